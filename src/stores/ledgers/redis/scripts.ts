/**
 * Lua scripts of {@link RedisBudgetLedger}. Each runs atomically in Redis, so reserve, settle and release
 * are race-free across every process sharing the Redis.
 *
 * One hash per thread (`<prefix>{<thread>}:b`) holds everything:
 * - field `s`, the thread's state packed as {@link STATE_FORMAT} (big-endian): maximum `m`, prompt tokens
 *   `p`, completion tokens `c`, requests `n`, tokens held by holds `r`, when the key expires `x` (epoch
 *   ms), a lower bound `o` of the earliest hold expiry (meaningful while `k > 0`), as doubles; the number
 *   of holds `k` and the thresholds fired so far `f` (bit i = the i-th threshold, ascending), as uint32.
 *   One packed field instead of nine: every field named in HMGET/HSET costs Redis about 0.2 µs.
 *   {@link decodeLedgerState} reads it.
 * - one field per hold: the reservation id (`<uuid>:<tokens>`, so the hold's tokens travel in its name),
 *   whose value is the hold's expiry (epoch ms).
 * - one field per *tombstone*: a reservation id whose reserve was cancelled before it ran, valued with
 *   its expiry negated (`-<epoch ms>`). A reserve that finds its id tombstoned holds nothing. The ledger
 *   picks reservation ids before the script runs, so a reserve that timed out or failed on the client is
 *   followed by a cancel of its id: whichever of the two Redis runs first, no hold is left behind.
 * The hash exists when `s` is set, or (for at most a hold TTL) when it holds only tombstones.
 *
 * Expired holds are purged (one HGETALL) only when one may exist, i.e. once `now >= o`; afterwards `o` is
 * the exact earliest expiry again. So between purges every hold in the hash is live, and settle needs no
 * expiry check of its own.
 *
 * Reserve, settle and release share one batch script (`ops`): the ledger sends the calls made in the same
 * tick as one EVALSHA. The script reads each thread touched by the batch once (one HMGET, including the
 * holds the batch settles or releases), applies the operations in order on that in-memory copy, and writes
 * each thread back once (one HDEL of the holds gone, one HSET of what changed). The operations still run
 * one after another inside one atomic script, exactly as if each were its own script call.
 *
 * Cost matters here (the target is 50 000 reserve+settle pairs per second): on Redis 7 every `redis.call`
 * costs about a microsecond and the fixed cost of a script call several, so the scripts make as few calls
 * as they can; the configuration is compiled into the script text; the key's idle expiry is pushed forward
 * only once `slack` of it has elapsed. Every argument handed to `redis.call` is a string: Redis 7 spends
 * about a microsecond formatting each Lua number argument, several times what `string.format('%d', n)`
 * costs (and Lua's own `tostring` would switch to exponent notation above 1e14).
 */
import { buildBatchScript } from './batch-script.js';
import { scriptParts, type LedgerScriptConfig } from './script-parts.js';

export type { LedgerScriptConfig } from './script-parts.js';
import { buildThreadScripts } from './thread-scripts.js';


/** The Lua source of each ledger operation. */
export interface LedgerScripts {
  /** Batched reserve / settle / release (see {@link OP_RESERVE}). */
  ops: string;
  usage: string;
  setBudget: string;
  endThread: string;
  /** Recreates a missing thread with restored spend (see `restore` of the ledger). */
  seed: string;
}

/** Builds the scripts for one configuration. */
export function buildLedgerScripts(config: LedgerScriptConfig): LedgerScripts {
  const parts = scriptParts(config);
  return { ops: buildBatchScript(parts), ...buildThreadScripts(parts) };
}
