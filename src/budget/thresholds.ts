import { ValidationError } from '../core/errors.js';
import type { ThreadBudget } from './thread-budget.js';
import type { Threshold, ThresholdEvent } from './types.js';

const NONE: ThresholdEvent[] = Object.freeze([]) as unknown as ThresholdEvent[];

const SEVERITIES = new Set(['warning', 'critical', 'final']);

/**
 * Validates warning thresholds and returns them sorted by percent, frozen. At most 31 thresholds
 * (each thread keeps one bit per threshold).
 */
export function validateThresholds(thresholds: readonly Threshold[]): readonly Threshold[] {
  if (!Array.isArray(thresholds)) throw new ValidationError('thresholds', thresholds, 'must be an array');
  if (thresholds.length > 31) throw new ValidationError('thresholds', thresholds.length, 'at most 31 thresholds');
  const seen = new Set<number>();
  const out = thresholds.map((t, i) => {
    const percent: unknown = t?.percent;
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
      throw new ValidationError(`thresholds[${i}].percent`, percent, 'must be a number in (0, 100]');
    }
    if (!SEVERITIES.has(t.severity)) {
      throw new ValidationError(`thresholds[${i}].severity`, t.severity, 'must be "warning", "critical" or "final"');
    }
    if (seen.has(percent)) throw new ValidationError(`thresholds[${i}].percent`, percent, 'is listed twice');
    seen.add(percent);
    return Object.freeze({ percent, severity: t.severity });
  });
  return Object.freeze(out.sort((a, b) => a.percent - b.percent));
}

/**
 * Thresholds the budget has reached but not yet fired (`thresholds` ascending, as validated); marks them
 * fired and sets `nextThresholdAt`, below which none can fire, so most charges skip this.
 */
export function crossedThresholds(thresholds: readonly Threshold[], threadId: string, budget: ThreadBudget): ThresholdEvent[] {
  const used = budget.promptTokens + budget.completionTokens;
  const scaled = used * 100;
  let next = Number.POSITIVE_INFINITY;
  let crossed: ThresholdEvent[] | undefined;
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    const bit = 1 << i;
    if ((budget.firedThresholds & bit) !== 0) continue;
    if (scaled < t.percent * budget.maxTokens) {
      // A lower bound (floor) of where this threshold fires: the exact test above decides.
      next = Math.min(next, Math.floor((t.percent * budget.maxTokens) / 100));
      continue;
    }
    budget.firedThresholds |= bit;
    (crossed ??= []).push({
      threadId,
      percent: t.percent,
      severity: t.severity,
      percentUsed: Math.round((scaled / budget.maxTokens) * 100) / 100,
      usedTokens: used,
      remainingTokens: budget.remaining,
      maxTokens: budget.maxTokens,
    });
  }
  budget.nextThresholdAt = next;
  return crossed ?? NONE;
}
