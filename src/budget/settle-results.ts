import type { SettleResult, ThresholdEvent } from './types.js';

/** No threshold crossed: one shared frozen empty list, so the common charge allocates nothing. */
export const NO_THRESHOLD_EVENTS: ThresholdEvent[] = Object.freeze([]) as unknown as ThresholdEvent[];

/** What settling a hold that no longer exists (expired, released, or a fail-open one) returns. */
export const NOT_CHARGED: SettleResult = Object.freeze({ charged: false, usage: undefined, crossed: [] }) as SettleResult;
