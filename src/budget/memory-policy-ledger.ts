import { z } from 'zod';
import { LedgerUnavailableError, TokenwardenError, ValidationError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';
import { functionOption, positiveIntegerOption } from '../core/option-schemas.js';
import { optionsPrefix, parseOptions } from '../core/options.js';
import { checkAmount, checkOverride, checkSpent } from './policy-checks.js';
import { HeldReservation, nanosOn, PolicyHolds, type PolicyHold } from './policy-holds.js';
import { PolicyMeterTable } from './policy-meter-table.js';
import { lineKey, PolicyMeter, zeroStanding, type MeterRefusal } from './policy-meter.js';
import type {
  LineLimits,
  PolicyAlert,
  PolicyAmount,
  PolicyLedger,
  PolicyLine,
  PolicyOverride,
  PolicyReservation,
  PolicyReserved,
  PolicyStanding,
  RestorePolicySpend,
} from './policy-types.js';

/** Options of {@link MemoryPolicyLedger}. */
export interface MemoryPolicyLedgerOptions {
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** A hold lapses this many ms after it was taken (a crashed caller never pins a budget). Default 600 000 (10 min). */
  reservationTtlMs?: number;
  /**
   * The spend of a budget line not in memory (first touch after a start, or after it idled out), e.g. from a
   * usage store. Asked once per line (concurrent first calls share it); a failure fails the call with
   * `LedgerUnavailableError`. Rate lines are never restored (a restart forgets at most a minute of them).
   */
  restore?: RestorePolicySpend;
  /** Most lines held in memory; a call needing a new line past it is refused (`TOO_MANY_BUDGET_ENTITIES`). Default 1 000 000. */
  maxLines?: number;
  /** With `restore`: a budget line not reserved on this long (and holding nothing) leaves memory, to be restored on its next use. Default 24 h. */
  idleTtlMs?: number;
  /** Receives what an alert listener throws (it never breaks accounting). Default: console.error. */
  onError?: (error: unknown) => void;
}

const Options = z.object(
  {
    now: functionOption<() => number>().default(() => Date.now),
    reservationTtlMs: positiveIntegerOption.default(600_000),
    restore: functionOption<RestorePolicySpend>().optional(),
    maxLines: positiveIntegerOption.default(1_000_000),
    idleTtlMs: positiveIntegerOption.default(24 * 3_600_000),
    onError: functionOption<(error: unknown) => void>().default(() => defaultOnError),
  },
  { error: 'must be an object' },
);

/** Lines looked at per call by the lazy sweep (ended windows, idle lines). */
const SWEEP_PER_CALL = 2;
/** Lines looked at before refusing a new line at `maxLines`. */
const SWEEP_WHEN_FULL = 4_096;

/**
 * The in-process {@link PolicyLedger}: every line of every policy in a map, reserved all-or-nothing with no
 * `await` between the check and the hold (so concurrent calls in one process can never overspend). Lines of
 * ended windows leave memory lazily (a few looked at per call); memory is bounded by `maxLines`.
 *
 * A hold lapses at its `expiresAt` and frees what it held. Its settle still charges the real amount (the
 * call was answered: the bill is the truth), once; it frees nothing a second time. Settle charges the
 * window the hold was taken in, even after the window rolled over, and reads no clock (holds lapse by the
 * time the last reserve, release, standing or top read). The lines of one call must be distinct.
 *
 * @example
 * ```ts
 * const ledger = new MemoryPolicyLedger({ restore: (line) => spendOf(line) });
 * const { reservation } = await ledger.reserve(lines, { nanos: 2_500_000, tokens: 1_200 });
 * await ledger.settle(reservation, { nanos: 1_900_000, tokens: 900 });
 * ```
 */
export class MemoryPolicyLedger implements PolicyLedger {
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly restore: RestorePolicySpend | undefined;
  private readonly maxLines: number;
  private readonly idleTtlMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly table = new PolicyMeterTable();
  private readonly overrideMap = new Map<string, PolicyOverride>();
  private readonly holds: PolicyHolds;
  private readonly restoring = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(alert: PolicyAlert) => void>();
  private readonly droppable: (meter: PolicyMeter) => boolean;
  private sweepNow = 0;
  /** Bumped when an override changes: meters recompute their limits in force. */
  private overrideVersion = 0;
  private calls = 0;
  /** The clock as last read (by a reserve, release, standing or top): what a settle lapses holds by. */
  private lastNow = 0;

  constructor(options: MemoryPolicyLedgerOptions = {}) {
    const o = parseOptions(Options, options ?? {}, optionsPrefix(options ?? {}));
    this.now = o.now;
    this.ttlMs = o.reservationTtlMs;
    this.restore = o.restore;
    this.maxLines = o.maxLines;
    this.idleTtlMs = o.idleTtlMs;
    this.onError = o.onError;
    this.holds = new PolicyHolds(this.ttlMs, (hold) => freeHold(hold));
    // Holding nothing, and its window ended, or (restorable budget lines) idle past idleTtlMs.
    this.droppable = (meter) =>
      !meter.busy &&
      ((meter.line.resetsAt !== null && meter.line.resetsAt <= this.sweepNow) ||
        (this.restore !== undefined && meter.line.meter === 'budget' && this.sweepNow - meter.lastUsed >= this.idleTtlMs));
  }

  reserve(lines: readonly PolicyLine[], amount: PolicyAmount): Promise<PolicyReserved> {
    return this.reserveAt(lines, amount, undefined);
  }

  /**
   * `reserve`, with this ledger's clock just read by the caller as `now` (see {@link usesClock}): one clock
   * read per call instead of two. A call that must restore lines first reads the clock after the restore.
   */
  reserveAt(lines: readonly PolicyLine[], amount: PolicyAmount, now: number | undefined): Promise<PolicyReserved> {
    try {
      // hand-written checks: a zod parse per call would cost more than the accounting
      if (!Array.isArray(lines)) throw new ValidationError('lines', lines, 'must be an array of policy lines');
      checkAmount('amount', amount);
      if (this.restore !== undefined && this.missing(lines)) {
        // A line already held that refuses now refuses before any store query (a flood of new entities
        // refused by, say, a key's rpm costs no restore each).
        this.precheck(lines, amount);
        return this.restoreMissing(lines).then(() => this.reserveNow(lines, amount, this.tick()));
      }
      return Promise.resolve(this.reserveNow(lines, amount, now === undefined ? this.tick() : (this.lastNow = now)));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Whether `clock` is this ledger's clock (the same function): then its reading may be handed to {@link reserveAt}. */
  usesClock(clock: () => number): boolean {
    return clock === this.now;
  }

  settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]> {
    try {
      return Promise.resolve(this.settleNow(reservation, actual));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async release(reservation: PolicyReservation): Promise<void> {
    this.holds.expire(this.tick());
    const hold = this.holds.find(reservation);
    if (hold === undefined || hold.state !== 'live') return;
    this.holds.finish(hold);
    freeHold(hold);
  }

  /**
   * Where a line stands. A budget line not in memory is shown as restored without being brought into
   * memory: reading any entity (the budgets API) never grows the ledger.
   */
  async standing(line: PolicyLine): Promise<PolicyStanding> {
    this.holds.expire(this.tick());
    const held = this.table.find(line);
    if (held !== undefined) return held.standing(this.limitsOf(held));
    const limits = this.limitsFor(line.policy, line.entity, line.meter, line.limits);
    const zero = zeroStanding(line, limits);
    if (this.restore === undefined || line.meter !== 'budget') return zero;
    const spent = checkSpent(await this.restore(line).catch((err: unknown) => {
      throw new LedgerUnavailableError(`restoring the spend of policy ${JSON.stringify(line.policy)} from the usage record failed: ${errorMessage(err)}`, { cause: err });
    }));
    const again = this.table.find(line); // brought in by a call meanwhile: that is the truth
    if (again !== undefined) return again.standing(this.limitsOf(again));
    return spent === undefined ? zero : { ...zero, spentNanos: spent.nanos, usedTokens: spent.tokens, requests: spent.requests };
  }

  async top(policy: string, windowStart: number, limit: number): Promise<PolicyStanding[]> {
    this.holds.expire(this.tick());
    const meters = [...this.table.inWindow(policy, windowStart)];
    meters.sort((a, b) => b.spentNanos - a.spentNanos || b.usedTokens - a.usedTokens);
    return meters.slice(0, Math.max(0, limit)).map((m) => m.standing(this.limitsOf(m)));
  }

  async setOverride(override: PolicyOverride): Promise<void> {
    const checked = checkOverride(override);
    this.overrideMap.set(`${checked.policy}\0${checked.entity}`, checked);
    this.overrideVersion++;
  }

  async deleteOverride(policy: string, entity: string): Promise<boolean> {
    const deleted = this.overrideMap.delete(`${policy}\0${entity}`);
    if (deleted) this.overrideVersion++;
    return deleted;
  }

  async overrides(): Promise<PolicyOverride[]> {
    return [...this.overrideMap.values()].map((o) => ({ ...o }));
  }

  onAlert(listener: (alert: PolicyAlert) => void): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Lines in memory and live holds. */
  stats(): { lines: number; holds: number } {
    return { lines: this.table.size, holds: this.holds.size };
  }

  /** The check and the hold, with no `await` between them. */
  private reserveNow(lines: readonly PolicyLine[], amount: PolicyAmount, now: number): PolicyReserved {
    this.holds.expire(now);
    // Amortized: a few lines looked at per call, in batches.
    if ((++this.calls & 15) === 0) this.sweep(now, 16 * SWEEP_PER_CALL);
    const count = lines.length;
    const { nanos, tokens } = amount;
    const meters = new Array<PolicyMeter>(count);
    let unpriced: boolean[] | undefined;
    let created: PolicyMeter[] | undefined;
    for (let i = 0; i < count; i++) {
      const line = lines[i]!;
      let meter = this.table.find(line);
      if (meter === undefined) (created ??= []).push((meter = this.create(line, now)));
      if (meter.lineLimits !== line.limits) {
        meter.lineLimits = line.limits;
        meter.effectiveVersion = -1;
      }
      const lim = this.limitsOf(meter);
      const refusal = meter.refusal(lim, line.priced ? nanos : 0, tokens);
      if (refusal !== undefined) {
        // Lines this refused call created (holding nothing) leave again: refusals never grow the ledger.
        if (created !== undefined) for (const fresh of created) this.table.remove(fresh);
        this.refuse(meter, lim, refusal, now);
      }
      meters[i] = meter;
      if (!line.priced) (unpriced ??= new Array<boolean>(count).fill(false))[i] = true;
    }
    const standings = new Array<PolicyStanding>(count);
    for (let i = 0; i < count; i++) {
      const meter = meters[i]!;
      meter.hold(unpriced !== undefined && unpriced[i] === true ? 0 : nanos, tokens);
      meter.lastUsed = now;
      standings[i] = meter.standing(meter.effective);
    }
    const hold: PolicyHold = { seq: this.holds.next(), lines, meters, unpriced, nanos, tokens, expiresAt: now + this.ttlMs, state: 'live' };
    this.holds.add(hold);
    return { reservation: new HeldReservation(hold, this.holds), standings };
  }

  private settleNow(reservation: PolicyReservation, actual: PolicyAmount): PolicyStanding[] {
    checkAmount('actual', actual);
    // No clock read here (it costs as much as a line's accounting on some VMs): holds lapse by the clock
    // as last read. A hold past its time that nothing lapsed yet is settled as live, which frees and
    // charges exactly what a lapse followed by a late settle would.
    this.holds.expire(this.lastNow);
    const hold = this.holds.find(reservation);
    if (hold === undefined) return [];
    const wasLive = hold.state === 'live';
    this.holds.finish(hold);
    const count = hold.meters.length;
    const standings = new Array<PolicyStanding>(count);
    let alerts: PolicyAlert[] | undefined;
    for (let i = 0; i < count; i++) {
      const meter = hold.meters[i]!;
      if (wasLive) meter.free(nanosOn(hold, i, hold.nanos), hold.tokens);
      // A line with priced:false held no nanos and is charged none.
      meter.charge(nanosOn(hold, i, actual.nanos), actual.tokens);
      const limits = this.limitsOf(meter);
      const standing = meter.standing(limits);
      standings[i] = standing;
      const crossed = meter.crossed(limits);
      for (let k = 0; k < crossed.length; k++) (alerts ??= []).push({ type: 'threshold', percent: crossed[k]!, standing, at: 0 });
    }
    if (alerts !== undefined) {
      const at = this.tick();
      for (const alert of alerts) {
        alert.at = at;
        this.emit(alert);
      }
    }
    return standings;
  }

  /** Reads the clock. */
  private tick(): number {
    return (this.lastNow = this.now());
  }

  /** Raises the line's `exhausted` alert (once per window) and throws its refusal. */
  private refuse(meter: PolicyMeter, limits: LineLimits, refusal: MeterRefusal, now: number): never {
    if (meter.firstExhausted()) this.emit({ type: 'exhausted', standing: meter.standing(limits), at: now });
    throw meter.refusalError(refusal, now);
  }

  /** Throws `TOO_MANY_BUDGET_ENTITIES` when memory holds `maxLines` lines and a sweep frees none. */
  private ensureRoom(line: PolicyLine, now: number): void {
    if (this.table.size < this.maxLines) return;
    this.sweep(now, SWEEP_WHEN_FULL);
    if (this.table.size < this.maxLines) return;
    throw new TokenwardenError(
      'TOO_MANY_BUDGET_ENTITIES',
      `the policy ledger holds its maximum of ${this.maxLines} lines (entities × windows); refusing a new line of policy ` +
        `${JSON.stringify(line.policy)} until some leave (raise maxLines, or give it a restore so idle lines can leave)`,
    );
  }

  private create(line: PolicyLine, now: number): PolicyMeter {
    this.ensureRoom(line, now);
    return this.table.create(line, now);
  }

  /** Lets go of up to `count` lines holding nothing whose window ended (or idle, restorable budget lines). */
  private sweep(now: number, count: number): void {
    this.sweepNow = now;
    this.table.sweep(count, this.droppable);
  }

  /** Throws the refusal of the first line already in memory that cannot take `amount` (nothing held, nothing created). */
  private precheck(lines: readonly PolicyLine[], amount: PolicyAmount): void {
    const now = this.tick();
    for (const line of lines) {
      const meter = this.table.find(line);
      if (meter === undefined) continue;
      const lim = this.limitsOf(meter);
      const refusal = meter.refusal(lim, line.priced ? amount.nanos : 0, amount.tokens);
      if (refusal !== undefined) this.refuse(meter, lim, refusal, now);
    }
  }

  private missing(lines: readonly PolicyLine[]): boolean {
    for (const line of lines) if (line.meter === 'budget' && this.table.find(line) === undefined) return true;
    return false;
  }

  /** Restores, once each, the budget lines of a call that are not in memory. */
  private async restoreMissing(lines: readonly PolicyLine[]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const line of lines) {
      if (line.meter === 'budget' && this.table.find(line) === undefined) pending.push(this.restoreLine(line));
    }
    await Promise.all(pending);
  }

  /** Brings one budget line into memory with its recorded spend; concurrent callers share the restore. */
  private restoreLine(line: PolicyLine): Promise<void> {
    const key = lineKey(line);
    let pending = this.restoring.get(key);
    if (pending === undefined) {
      pending = this.load(line).finally(() => this.restoring.delete(key));
      this.restoring.set(key, pending);
    }
    return pending;
  }

  private async load(line: PolicyLine): Promise<void> {
    if (this.table.find(line) !== undefined) return;
    this.ensureRoom(line, this.now()); // a full ledger refuses before any store query
    let spent: unknown;
    try {
      spent = await this.restore!(line);
    } catch (err) {
      throw new LedgerUnavailableError(`restoring the spend of policy ${JSON.stringify(line.policy)} from the usage record failed: ${errorMessage(err)}`, { cause: err });
    }
    const checked = checkSpent(spent);
    if (checked === undefined) {
      throw new LedgerUnavailableError(`restore() for policy ${JSON.stringify(line.policy)} must resolve to { nanos, tokens, requests } (whole numbers >= 0)`);
    }
    const meter = this.table.find(line) ?? this.create(line, this.now());
    meter.restore(checked);
  }

  /** The limits in force on a meter (an override applied), cached until an override or the line's limits change. */
  private limitsOf(meter: PolicyMeter): LineLimits {
    if (meter.effectiveVersion !== this.overrideVersion) {
      const line = meter.line;
      meter.effective = this.limitsFor(line.policy, line.entity, line.meter, meter.lineLimits);
      meter.effectiveVersion = this.overrideVersion;
    }
    return meter.effective;
  }

  private limitsFor(policy: string, entity: string, meter: PolicyLine['meter'], limits: LineLimits): LineLimits {
    if (meter !== 'budget' || this.overrideMap.size === 0) return limits;
    const override = this.overrideMap.get(`${policy}\0${entity}`);
    if (override === undefined) return limits;
    const out: LineLimits = { ...limits };
    if (override.maxNanos !== undefined) out.nanos = override.maxNanos;
    if (override.maxTokens !== undefined) out.tokens = override.maxTokens;
    return out;
  }

  private emit(alert: PolicyAlert): void {
    for (const listener of this.listeners) {
      try {
        const result: unknown = listener(alert);
        if (result instanceof Promise) result.catch((err: unknown) => this.onError(err));
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** Frees what a hold holds on each of its lines. */
function freeHold(hold: PolicyHold): void {
  for (let i = 0; i < hold.meters.length; i++) hold.meters[i]!.free(nanosOn(hold, i, hold.nanos), hold.tokens);
}

function defaultOnError(err: unknown): void {
  console.error('[tokenwarden] policy alert listener failed:', err);
}
