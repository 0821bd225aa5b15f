import { PolicyMeter } from './policy-meter.js';
import type { PolicyLine } from './policy-types.js';

/** The meters of one policy, by meter kind and entity; each entry is the newest window, older ones chained behind. */
interface PolicyMeters {
  budget: Map<string, PolicyMeter>;
  rate: Map<string, PolicyMeter>;
}

/**
 * The lines a memory policy ledger holds: policy → meter → entity → window, looked up with the strings the
 * line already carries (no key is built per call: a policy name is the same string every time, so its hash
 * is cached), the windows of one entity chained newest first (the current one is found first); a frozen
 * line object seen before leads to its meter directly. Also keeps every line in one set (size, sweeping)
 * and budget lines by policy and window (for `top`).
 *
 * @example
 * ```ts
 * const table = new PolicyMeterTable();
 * const meter = table.find(line) ?? table.create(line, now);
 * ```
 */
export class PolicyMeterTable {
  private readonly byPolicy = new Map<string, PolicyMeters>();
  private readonly all = new Set<PolicyMeter>();
  private readonly byWindow = new Map<string, Set<PolicyMeter>>();
  private cursor: Iterator<PolicyMeter> | undefined;
  /**
   * The meter of each (frozen) line object seen: `BudgetPolicies` hands the same line objects call after
   * call, and one lookup by identity costs a third of the two by policy and entity.
   */
  private readonly byLine = new WeakMap<PolicyLine, PolicyMeter>();

  get size(): number {
    return this.all.size;
  }

  find(line: PolicyLine): PolicyMeter | undefined {
    const known = this.byLine.get(line);
    if (known !== undefined && !known.dropped) return known;
    const meter = this.lookup(line);
    // Only a frozen line can be remembered by identity: its key can never change under us.
    if (meter !== undefined && Object.isFrozen(line)) this.byLine.set(line, meter);
    return meter;
  }

  private lookup(line: PolicyLine): PolicyMeter | undefined {
    const meters = this.byPolicy.get(line.policy);
    if (meters === undefined) return undefined;
    let meter = (line.meter === 'budget' ? meters.budget : meters.rate).get(line.entity);
    const start = line.windowStart;
    while (meter !== undefined && meter.line.windowStart !== start) meter = meter.older;
    return meter;
  }

  create(line: PolicyLine, now: number): PolicyMeter {
    let meters = this.byPolicy.get(line.policy);
    if (meters === undefined) this.byPolicy.set(line.policy, (meters = { budget: new Map(), rate: new Map() }));
    const map = line.meter === 'budget' ? meters.budget : meters.rate;
    const meter = new PolicyMeter(line);
    meter.lastUsed = now;
    meter.older = map.get(line.entity);
    map.set(line.entity, meter);
    this.all.add(meter);
    if (Object.isFrozen(line)) this.byLine.set(line, meter);
    if (line.meter === 'budget') {
      const group = `${line.policy}\0${line.windowStart}`;
      let set = this.byWindow.get(group);
      if (set === undefined) this.byWindow.set(group, (set = new Set()));
      set.add(meter);
    }
    return meter;
  }

  /** Budget lines of `policy` in the window starting at `windowStart`. */
  inWindow(policy: string, windowStart: number): Iterable<PolicyMeter> {
    return this.byWindow.get(`${policy}\0${windowStart}`) ?? [];
  }

  /**
   * Looks at up to `count` lines, resuming where the last sweep stopped (at most one pass), and drops
   * those `drop` says may go.
   */
  sweep(count: number, drop: (meter: PolicyMeter) => boolean): void {
    const limit = Math.min(count, this.all.size + 1);
    for (let seen = 0; seen < limit; seen++) {
      this.cursor ??= this.all.values();
      const next = this.cursor.next();
      if (next.done === true) {
        this.cursor = undefined;
        continue;
      }
      if (drop(next.value)) this.remove(next.value);
    }
  }

  /** Drops a line (one a refused call created, holding nothing). */
  remove(meter: PolicyMeter): void {
    const { line } = meter;
    meter.dropped = true;
    this.all.delete(meter);
    const meters = this.byPolicy.get(line.policy);
    const map = meters === undefined ? undefined : line.meter === 'budget' ? meters.budget : meters.rate;
    const head = map?.get(line.entity);
    if (map !== undefined && head !== undefined) {
      if (head === meter) {
        if (meter.older === undefined) map.delete(line.entity);
        else map.set(line.entity, meter.older);
      } else {
        let prev = head;
        while (prev.older !== undefined && prev.older !== meter) prev = prev.older;
        if (prev.older === meter) prev.older = meter.older;
      }
    }
    meter.older = undefined;
    if (line.meter !== 'budget') return;
    const group = `${line.policy}\0${line.windowStart}`;
    const set = this.byWindow.get(group);
    if (set?.delete(meter) === true && set.size === 0) this.byWindow.delete(group);
  }
}
