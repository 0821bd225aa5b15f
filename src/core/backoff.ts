/**
 * The ceiling of exponential backoff: `min(maxMs, baseMs * 2^(attempt-1))`, `attempt` counting from 1.
 * Callers add jitter where many clients could retry in step (the router), or use it as is for one
 * reconnecting connection (Postgres, Redis).
 *
 * @example
 * ```ts
 * backoffCeilingMs(3, 100, 10_000); // 400
 * ```
 */
export function backoffCeilingMs(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(30, Math.max(0, attempt - 1));
  return Math.min(maxMs, baseMs * 2 ** exp);
}
