import { ValidationError } from '../errors.js';
import type { Threshold } from './types.js';

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
