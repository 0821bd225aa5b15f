import { ValidationError } from '../core/errors.js';
import { formatPath } from '../core/format-path.js';
import { NO_THRESHOLD_EVENTS } from './settle-results.js';
import type { ThreadBudget } from './thread-budget.js';
import type { Threshold, ThresholdEvent } from './types.js';


const SEVERITIES = new Set(['warning', 'critical', 'final']);

/** What is wrong with a thresholds list: where (inside the list), the value at fault and the problem. */
export interface ThresholdProblem {
  path: Array<string | number>;
  value: unknown;
  message: string;
}

/** The first problem of a thresholds list (at most 31 entries, percents in (0, 100], no repeats), if any. */
export function thresholdProblem(thresholds: unknown): ThresholdProblem | undefined {
  if (!Array.isArray(thresholds)) return { path: [], value: thresholds, message: 'must be an array' };
  if (thresholds.length > 31) return { path: [], value: thresholds.length, message: 'at most 31 thresholds' };
  const seen = new Set<number>();
  for (const [i, t] of (thresholds as Array<Partial<Threshold> | null | undefined>).entries()) {
    const percent: unknown = t?.percent;
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
      return { path: [i, 'percent'], value: percent, message: 'must be a number in (0, 100]' };
    }
    if (!SEVERITIES.has(t!.severity as string)) {
      return { path: [i, 'severity'], value: t!.severity, message: 'must be "warning", "critical" or "final"' };
    }
    if (seen.has(percent)) return { path: [i, 'percent'], value: percent, message: 'is listed twice' };
    seen.add(percent);
  }
  return undefined;
}

/**
 * Validates warning thresholds and returns them sorted by percent, frozen. At most 31 thresholds
 * (each thread keeps one bit per threshold).
 */
export function validateThresholds(thresholds: readonly Threshold[]): readonly Threshold[] {
  const problem = thresholdProblem(thresholds);
  if (problem) throw new ValidationError(formatPath(['thresholds', ...problem.path]), problem.value, problem.message);
  const out = thresholds.map((t) => Object.freeze({ percent: t.percent, severity: t.severity }));
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
  return crossed ?? NO_THRESHOLD_EVENTS;
}
