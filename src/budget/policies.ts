import { z } from 'zod';
import { UnpricedModelError, ValidationError } from '../core/errors.js';
import { functionOption } from '../core/option-schemas.js';
import { optionsPrefix, parseOptions } from '../core/options.js';
import { assertTokenCount } from '../core/validate.js';
import type { PriceTable } from '../pricing/price-table.js';
import { MemoryPolicyLedger } from './memory-policy-ledger.js';
import { PolicyMatcher } from './policy-match.js';
import { parsePolicies, type NormalizedPolicy } from './policy-schema.js';
import type {
  BudgetPolicy,
  CallSubject,
  PolicyAmount,
  PolicyGuard,
  PolicyLedger,
  PolicyLine,
  PolicyReservation,
  PolicyReserved,
  PolicyStanding,
} from './policy-types.js';

/** Options of {@link BudgetPolicies}. */
export interface BudgetPoliciesOptions {
  /** The policies (checked up front: each problem names `policies[i].field`). */
  policies: BudgetPolicy[];
  /** Where the lines are held and charged (`MemoryPolicyLedger`, or a shared one such as Redis). */
  ledger: PolicyLedger;
  /** Prices of the models, for the USD estimate of a call. */
  prices: PriceTable;
  /** Clock, epoch ms (windows). Default `Date.now`. */
  now?: () => number;
}

const LEDGER_METHODS = ['reserve', 'settle', 'release', 'standing'] as const;

const Options = z.object(
  {
    policies: z.unknown(),
    ledger: z.custom<PolicyLedger>(
      (v) => typeof v === 'object' && v !== null && LEDGER_METHODS.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      { error: 'must be a PolicyLedger (reserve, settle, release, standing, ...)' },
    ),
    prices: z.custom<PriceTable>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).estimateCostNanos === 'function',
      { error: 'must be a PriceTable' },
    ),
    now: functionOption<() => number>().default(() => Date.now),
  },
  { error: 'must be an object' },
);

/** What a call asks for: its prompt estimate and its completion cap, in tokens. */
export interface CallEstimate {
  promptTokens: number;
  completionTokens: number;
}

/**
 * Budget policies bound to a ledger and a price table: the {@link PolicyGuard} the router, the pump and
 * the gateway call. For each call it finds the policies that apply (compiled once: scope attribute
 * present, `match` entries tested with no parsing per call), builds their lines for the current windows,
 * prices the estimate (prompt × the higher of the input and cache-write rates + completion cap × the
 * output rate, in integer nano-USD) and reserves every line at once.
 *
 * @example
 * ```ts
 * const policies = new BudgetPolicies({
 *   policies: [
 *     { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
 *     { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 },
 *   ],
 *   ledger: new MemoryPolicyLedger(),
 *   prices: new PriceTable(),
 * });
 * const held = await policies.reserve({ model: 'gpt-4o', user: 'u-7', key: 'ci' }, { promptTokens: 1_200, completionTokens: 500 });
 * // ... call the provider, then:
 * if (held) await policies.settle(held.reservation, { nanos: event.costNanos ?? 0, tokens: event.totalTokens });
 * ```
 */
export class BudgetPolicies implements PolicyGuard {
  /** The policies, checked and normalized (frozen). */
  readonly policies: readonly NormalizedPolicy[];
  readonly ledger: PolicyLedger;
  private readonly prices: PriceTable;
  private readonly now: () => number;
  private readonly matchers: readonly PolicyMatcher[];
  private readonly byName: ReadonlyMap<string, PolicyMatcher>;
  /** The ledger, when it is a memory ledger reading the same clock as this. */
  private readonly memory: MemoryPolicyLedger | undefined;

  constructor(options: BudgetPoliciesOptions) {
    const o = parseOptions(Options, options, optionsPrefix(options));
    this.policies = Object.freeze(parsePolicies(o.policies ?? notGiven(), 'policies'));
    this.ledger = o.ledger;
    this.prices = o.prices;
    this.now = o.now;
    this.matchers = Object.freeze(this.policies.map((p) => new PolicyMatcher(p)));
    this.byName = new Map(this.matchers.map((m) => [m.policy.name, m]));
    this.memory = this.ledger instanceof MemoryPolicyLedger && this.ledger.usesClock(this.now) ? this.ledger : undefined;
  }

  /** The policy named `name`, or `undefined`. */
  policy(name: string): NormalizedPolicy | undefined {
    return this.byName.get(name)?.policy;
  }

  /**
   * The lines of every policy that applies to `subject` at `now` (a policy with both meters gives its
   * budget line, then its rate line). A USD budget line of a model without a price is `priced: false`
   * (`reserve` refuses it instead unless the policy says `unpriced: allow`).
   */
  linesFor(subject: CallSubject, now: number = this.now()): PolicyLine[] {
    checkSubject(subject);
    const out: PolicyLine[] = [];
    let priced: boolean | undefined;
    for (const matcher of this.matchers) {
      const entry = matcher.entryOf(subject);
      if (entry === undefined) continue;
      if (matcher.limitsUsd) priced ??= this.prices.estimateCostNanos(subject.model, { promptTokens: 0, completionTokens: 0 }) !== undefined;
      matcher.linesOf(entry, now, priced ?? true, out);
    }
    return out;
  }

  /**
   * The line of one entity under one policy at `now`, whether or not a call ever named it (the budget
   * line by default; `meter: 'rate'` for its rate line): `undefined` when there is no such policy or meter.
   *
   * @example
   * ```ts
   * const line = policies.lineFor('user-daily', 'u-7');
   * if (line) await policies.ledger.standing(line);
   * ```
   */
  lineFor(policyName: string, entity: string, now: number = this.now(), meter?: PolicyLine['meter']): PolicyLine | undefined {
    const matcher = this.byName.get(policyName);
    if (matcher === undefined) return undefined;
    if (typeof entity !== 'string' || entity.length === 0) throw new ValidationError('entity', entity, 'must be a non-empty string');
    return matcher.line(meter ?? (matcher.has('budget') ? 'budget' : 'rate'), entity, now, true);
  }

  reserve(subject: CallSubject, estimate: CallEstimate): Promise<PolicyReserved | undefined> {
    // Not async: the ledger's promise is handed back as is (one promise per call, not two).
    try {
      return this.reserveLines(subject, estimate);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private reserveLines(subject: CallSubject, estimate: CallEstimate): Promise<PolicyReserved | undefined> {
    checkSubject(subject);
    if (estimate === null || typeof estimate !== 'object') throw new ValidationError('estimate', estimate, 'must be { promptTokens, completionTokens }');
    const { promptTokens, completionTokens } = estimate;
    assertTokenCount('estimate.promptTokens', promptTokens);
    assertTokenCount('estimate.completionTokens', completionTokens);
    const now = this.now();
    const lines: PolicyLine[] = [];
    let nanos: number | undefined;
    let priced = true;
    let pricedKnown = false;
    const matchers = this.matchers;
    for (let i = 0; i < matchers.length; i++) {
      const matcher = matchers[i]!;
      const entry = matcher.entryOf(subject);
      if (entry === undefined) continue;
      if (matcher.limitsUsd && !pricedKnown) {
        nanos = this.estimateNanos(subject.model, promptTokens, completionTokens);
        priced = nanos !== undefined;
        pricedKnown = true;
      }
      if (matcher.limitsUsd && !priced && matcher.policy.unpriced === 'refuse') throw new UnpricedModelError(subject.model, matcher.policy.name);
      matcher.linesOf(entry, now, priced, lines);
    }
    if (lines.length === 0) return NOTHING;
    // Lines not limiting USD still record the call's cost (their standings show it); an unknown price counts 0.
    if (!pricedKnown) nanos = this.estimateNanos(subject.model, promptTokens, completionTokens);
    const total = { nanos: nanos ?? 0, tokens: promptTokens + completionTokens };
    // A memory ledger on the same clock takes this reading instead of reading the clock again.
    return this.memory !== undefined ? this.memory.reserveAt(lines, total, now) : this.ledger.reserve(lines, total);
  }

  settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]> {
    return this.ledger.settle(reservation, actual);
  }

  release(reservation: PolicyReservation): Promise<void> {
    return this.ledger.release(reservation);
  }

  /**
   * The estimate in nano-USD: the prompt at the higher of the input and cache-write rates (a prompt may be
   * written to the cache, at a premium), the completion cap at the output rate; `undefined` when unpriced.
   */
  private estimateNanos(model: string, promptTokens: number, completionTokens: number): number | undefined {
    const plain = this.prices.estimateCostNanos(model, { promptTokens, completionTokens });
    if (plain === undefined || promptTokens === 0) return plain;
    const written = this.prices.estimateCostNanos(model, { promptTokens, completionTokens, cacheWriteTokens: promptTokens });
    return written !== undefined && written > plain ? written : plain;
  }
}

const NOTHING: Promise<undefined> = Promise.resolve(undefined);

function checkSubject(subject: CallSubject): void {
  if (subject === null || typeof subject !== 'object') throw new ValidationError('subject', subject, 'must be { model, user?, org?, key?, agent?, thread? }');
  if (typeof subject.model !== 'string' || subject.model.length === 0) throw new ValidationError('subject.model', subject.model, 'must be a non-empty string');
}

function notGiven(): never {
  throw new ValidationError('policies', undefined, 'must be a list of policies');
}
