/**
 * Reads a thread's raw Redis ledger state (one hash per thread, see src/stores/ledgers/redis/scripts.ts), independently of the ledger's scripts, and checks its
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
import { DEFAULT_THRESHOLDS } from '../../../../src/budget/types.js';
import { redisLedgerKeys } from '../../../../src/stores/ledgers/redis/index.js';
import { decodeLedgerState, holdTokens, isHoldField, isTombstoneValue } from '../../../../src/stores/ledgers/redis/ledger-state.js';

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
  /** Reservation ids cancelled before their reserve ran (fields valued `-<expiry>`). */
  tombstones: number;
  /** Fired threshold percents (decoded from `firedMask` with the given threshold percents). */
  fired: number[];
  /** The `f` counter: bit i set once the i-th threshold (ascending) has fired. */
  firedMask: number;
  /** Milliseconds until the hash expires (-1 = no expiry, -2 = missing). */
  hashTtlMs: number;
  /** Broken invariants, in words; empty when the state is consistent. */
  problems: string[];
}

/**
 * Reads and checks one thread's key (`now` decides which holds count as live; `percents` are the
 * ledger's threshold percents, default 75, 90, 95).
 */
export async function auditRedisThread(
  client: Redis,
  keyPrefix: string,
  threadId: string,
  now: number = Date.now(),
  percents: readonly number[] = DEFAULT_THRESHOLDS.map((t) => t.percent),
): Promise<RedisThreadAudit> {
  const { hash } = redisLedgerKeys(keyPrefix, threadId);
  const [raw, hashTtlMs] = await Promise.all([client.hgetallBuffer(hash), client.pttl(hash)]);
  const problems: string[] = [];
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) if (name !== 's') fields[name] = value.toString();
  const exists = raw.s !== undefined;
  const state = exists ? decodeLedgerState(raw.s!) : undefined;

  let sumTokens = 0;
  let liveHolds = 0;
  let liveTokens = 0;
  let expiredHolds = 0;
  let earliest = Infinity;
  const heldIds = Object.keys(fields).filter((f) => isHoldField(f) && !isTombstoneValue(fields[f]!));
  const tombstones = Object.keys(fields).filter((f) => isHoldField(f) && isTombstoneValue(fields[f]!));
  for (const id of tombstones) {
    if (!Number.isSafeInteger(-Number(fields[id]))) problems.push(`tombstone ${id} has expiry ${fields[id]}`);
  }
  for (const id of heldIds) {
    const tokens = holdTokens(id);
    const expiry = Number(fields[id]);
    if (!Number.isSafeInteger(tokens) || tokens < 0) problems.push(`hold ${id} does not name its tokens`);
    if (!Number.isSafeInteger(expiry)) problems.push(`hold ${id} has expiry ${fields[id]}`);
    sumTokens += tokens;
    earliest = Math.min(earliest, expiry);
    if (expiry > now) {
      liveHolds++;
      liveTokens += tokens;
    } else expiredHolds++;
  }
  for (const f of Object.keys(fields)) {
    if (!isHoldField(f) && f !== 'g') problems.push(`unexpected field ${f}`);
  }

  if (state) {
    if (state.heldTokens !== sumTokens) problems.push(`r = ${state.heldTokens} but the holds add up to ${sumTokens}`);
    if (state.holdCount !== heldIds.length) problems.push(`k = ${state.holdCount} but there are ${heldIds.length} holds`);
    if (heldIds.length > 0 && state.earliestHoldExpiry > earliest) {
      problems.push(`o = ${state.earliestHoldExpiry} is after the earliest hold expiry ${earliest}`);
    }
    if (hashTtlMs < 0) problems.push('the hash has no expiry');
  } else if (heldIds.length > 0 || Object.keys(fields).some((f) => !isHoldField(f))) {
    // ('g', the thread's group, is written with the state.)
    problems.push('key exists without its state (s) and holds more than tombstones');
  } else if (tombstones.length > 0 && hashTtlMs < 0) {
    problems.push('a key of tombstones only has no expiry');
  }

  const promptTokens = state?.promptTokens ?? 0;
  const completionTokens = state?.completionTokens ?? 0;
  const firedMask = state?.firedMask ?? 0;
  return {
    exists,
    maxTokens: state?.maxTokens,
    promptTokens,
    completionTokens,
    chargedTokens: promptTokens + completionTokens,
    requestCount: state?.requestCount ?? 0,
    heldCounter: state?.heldTokens ?? 0,
    holdCounter: state?.holdCount ?? 0,
    liveHolds,
    liveTokens,
    expiredHolds,
    tombstones: tombstones.length,
    fired: [...percents].sort((a, b) => a - b).filter((_, i) => Math.floor(firedMask / 2 ** i) % 2 === 1),
    firedMask,
    hashTtlMs,
    problems,
  };
}

/** Deletes every key under `prefix` (SCAN, never KEYS: the shared test Redis may hold many). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}
