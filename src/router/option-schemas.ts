import { z } from 'zod';

/** The longest timer Node accepts, ms (2^31 - 1). */
export const MAX_TIMER_MS = 2_147_483_647;

/** A timer length: `must be a number of milliseconds > 0 (at most 2147483647)`. */
export function positiveMs() {
  const error = `must be a number of milliseconds > 0 (at most ${MAX_TIMER_MS})`;
  return z.number({ error }).gt(0, { error }).max(MAX_TIMER_MS, { error });
}
