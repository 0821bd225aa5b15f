/**
 * Reads a thread's raw Redis ledger state, independently of the ledger's scripts, and checks its
 * invariants. For tests that need ground truth after concurrent or crashing instances (the
 * multi-gateway tests reuse it).
 *
 * @example
 * ```ts
 * const audit = await auditRedisThread(redis, 'tw:', 'thread-1');
 * expect(audit.problems).toEqual([]);
 * expect(audit.chargedTokens).toBeLessThanOrEqual(audit.maxTokens!);
 * ```
 */
import type { Redis } from 'ioredis';
import { redisLedgerKeys } from '../../src/stores/redis/index.js';

export interface RedisThreadAudit {
  exists: boolean;
  maxTokens: number | undefined;
  promptTokens: number;
  completionTokens: number;
  chargedTokens: number;
  requestCount: number;
  /** The `r` counter (tokens of all holds not yet purged, live or expired). */
  heldCounter: number;
  /** The `k` counter (number of holds not yet purged). */
  holdCounter: number;
  /** Holds whose expiry is after `now`, and their tokens. */
  liveHolds: number;
  liveTokens: number;
  /** Holds past their expiry but not yet purged. */
  expiredHolds: number;
  /** Fired threshold percents. */
  fired: number[];
  /** Milliseconds until the hash / hold set expire (-1 = no expiry, -2 = missing). */
  hashTtlMs: number;
  holdsTtlMs: number;
  /** Broken invariants, in words; empty when the state is consistent. */
  problems: string[];
}

/** Reads and checks one thread's keys (`now` decides which holds count as live). */
export async function auditRedisThread(
  client: Redis,
  keyPrefix: string,
  threadId: string,
  now: number = Date.now(),
): Promise<RedisThreadAudit> {
  const { hash, holds } = redisLedgerKeys(keyPrefix, threadId);
  const [fields, members, hashTtlMs, holdsTtlMs] = await Promise.all([
    client.hgetall(hash),
    client.zrange(holds, 0, -1, 'WITHSCORES'),
    client.pttl(hash),
    client.pttl(holds),
  ]);
  const num = (key: string) => Number(fields[key] ?? 0);
  const exists = fields.m !== undefined;
  const problems: string[] = [];

  const scored = new Map<string, number>();
  const score = (raw: string | undefined) => (raw === 'inf' ? Infinity : Number(raw));
  for (let i = 0; i < members.length; i += 2) scored.set(members[i]!, score(members[i + 1]));
  const sentinel = scored.get('~');
  scored.delete('~');

  let sumTokens = 0;
  let liveHolds = 0;
  let liveTokens = 0;
  let expiredHolds = 0;
  const heldIds = Object.keys(fields).filter((f) => f.startsWith('h:')).map((f) => f.slice(2));
  for (const id of heldIds) {
    const tokens = Number(fields[`h:${id}`]);
    const expiry = Number(fields[`e:${id}`]);
    sumTokens += tokens;
    if (!scored.has(id)) problems.push(`hold ${id} has a hash field but no sorted-set member`);
    else if (scored.get(id) !== expiry) problems.push(`hold ${id}: expiry ${expiry} in the hash, ${scored.get(id)} in the set`);
    if (expiry > now) {
      liveHolds++;
      liveTokens += tokens;
    } else expiredHolds++;
  }
  for (const id of scored.keys()) if (fields[`h:${id}`] === undefined) problems.push(`hold ${id} is in the set but not the hash`);

  if (exists) {
    if (num('r') !== sumTokens) problems.push(`r = ${num('r')} but the holds add up to ${sumTokens}`);
    if (num('k') !== heldIds.length) problems.push(`k = ${num('k')} but there are ${heldIds.length} holds`);
    if (sentinel !== Infinity) problems.push('the hold set has no +inf sentinel');
    if (hashTtlMs < 0) problems.push('the hash has no expiry');
    if (holdsTtlMs < 0) problems.push('the hold set has no expiry');
  } else if (members.length > 0 || Object.keys(fields).length > 0) {
    problems.push('keys exist without a maximum (m)');
  }

  const promptTokens = num('p');
  const completionTokens = num('c');
  return {
    exists,
    maxTokens: exists ? num('m') : undefined,
    promptTokens,
    completionTokens,
    chargedTokens: promptTokens + completionTokens,
    requestCount: num('n'),
    heldCounter: num('r'),
    holdCounter: num('k'),
    liveHolds,
    liveTokens,
    expiredHolds,
    fired: Object.keys(fields)
      .filter((f) => f.startsWith('t:'))
      .map((f) => Number(f.slice(2)))
      .sort((a, b) => a - b),
    hashTtlMs,
    holdsTtlMs,
    problems,
  };
}
