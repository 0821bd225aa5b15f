/** Policy lines for the Redis policy ledger's tests. */
import type { PolicyLine } from '../../../../src/budget/policy-types.js';
import { windowAt } from '../../../../src/budget/windows.js';

/** A budget line of a daily policy (`nanos`/`tokens` limits) at `now`. */
export function dailyLine(policy: string, entity: string, limits: { nanos?: number; tokens?: number }, now = Date.now(), extra: Partial<PolicyLine> = {}): PolicyLine {
  const window = { count: 1, unit: 'd' } as const;
  const { start, resetsAt } = windowAt(window, now);
  return { policy, scope: 'user', entity, meter: 'budget', windowStart: start, resetsAt, window, limits, priced: true, thresholds: [75, 90, 95], ...extra };
}

/** A rate line (rpm as `requests`, tpm as `tokens`) over the UTC minute at `now`. */
export function rateLine(policy: string, entity: string, limits: { requests?: number; tokens?: number }, now = Date.now()): PolicyLine {
  const window = { count: 1, unit: 'm' } as const;
  const { start, resetsAt } = windowAt(window, now);
  return { policy, scope: 'key', entity, meter: 'rate', windowStart: start, resetsAt, window, limits, priced: true, thresholds: [] };
}

/** A lifetime budget line. */
export function lifetimeLine(policy: string, entity: string, limits: { nanos?: number; tokens?: number }): PolicyLine {
  return { policy, scope: 'agent', entity, meter: 'budget', windowStart: 0, resetsAt: null, window: undefined, limits, priced: true, thresholds: [50] };
}
