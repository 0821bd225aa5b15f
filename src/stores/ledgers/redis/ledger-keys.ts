/**
 * The Redis keys of a {@link RedisBudgetLedger}, in one place. A thread's key and its group's key put the
 * thread (or group) id in a hash tag, as Redis Cluster would want.
 */

/** The hash a ledger keeps for a thread (`<prefix>{<threadId>}:b`). */
export function threadKey(keyPrefix: string, threadId: string): string {
  return `${keyPrefix}{${threadId}}:b`;
}

/** The sorted set of the threads of a group, scored by last use (`<prefix>{<group>}:g`). */
export function groupKey(keyPrefix: string, group: string): string {
  return `${keyPrefix}{${group}}:g`;
}

/**
 * The Redis key a {@link RedisBudgetLedger} keeps for a thread: one hash with its packed state (field
 * `s`, see {@link decodeLedgerState}) and one field per hold (the reservation id, valued with its expiry).
 * The thread id is a hash tag, as Redis Cluster would want. For operators and tests that inspect the
 * ledger directly.
 *
 * @example
 * ```ts
 * const { hash } = redisLedgerKeys('tw:', 'thread-1');                     // 'tw:{thread-1}:b'
 * decodeLedgerState((await redis.hgetBuffer(hash, 's'))!).promptTokens;   // prompt tokens charged so far
 * ```
 */
export function redisLedgerKeys(keyPrefix: string, threadId: string): { hash: string } {
  return { hash: threadKey(keyPrefix, threadId) };
}
