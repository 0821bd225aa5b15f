import { z } from 'zod';
import { thresholdProblem, validateThresholds } from './thresholds.js';
import { DEFAULT_THRESHOLDS, type Threshold } from './types.js';

/**
 * Warning thresholds, checked like `validateThresholds` (an ordinary issue naming the entry at fault, so
 * the ledgers' other options keep their order) and sorted; default 75/90/95 %.
 */
export const thresholdsOption = z
  .custom<readonly Threshold[]>()
  .optional()
  .superRefine((thresholds, ctx) => {
    const problem = thresholdProblem(thresholds ?? DEFAULT_THRESHOLDS);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, params: { got: problem.value } });
  })
  .transform((thresholds) => validateThresholds(thresholds ?? DEFAULT_THRESHOLDS));
