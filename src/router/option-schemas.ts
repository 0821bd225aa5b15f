import { z } from 'zod';

/** The longest timer Node accepts, ms (2^31 - 1). */
export const MAX_TIMER_MS = 2_147_483_647;

/** An integer of at least `min`: `must be an integer >= min`. */
export function integerAtLeast(min: number) {
  const error = `must be an integer >= ${min}`;
  return z.number({ error }).int({ error }).min(min, { error });
}

/** A timer length: `must be a number of milliseconds > 0 (at most 2147483647)`. */
export function positiveMs() {
  const error = `must be a number of milliseconds > 0 (at most ${MAX_TIMER_MS})`;
  return z.number({ error }).gt(0, { error }).max(MAX_TIMER_MS, { error });
}

/** A function option: `must be a function`. */
export function functionOption<F>() {
  return z.custom<F>((value) => typeof value === 'function', { error: 'must be a function' });
}

/** Keys outside a schema's shape, each reported at its own path with `message`. */
export function unknownKey(message: string) {
  return z.custom<never>(() => false, { error: message });
}
