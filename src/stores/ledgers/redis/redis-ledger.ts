import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BudgetExhaustedError, LedgerUnavailableError, ThreadLimitError, ValidationError } from '../../../core/errors.js';
import { assertPositiveInteger, assertThreadId } from '../../../core/validate.js';
import { validateThresholds } from '../../../budget/thresholds.js';
import {
  DEFAULT_THRESHOLDS,
  type BudgetLedger,
  type Reservation,
  type RestoredSpend,
  type SettleResult,
  type Threshold,
  type ThresholdEvent,
  type ThreadUsage,
  type UsageCharge,
} from '../../../budget/types.js';
import { PendingCancels } from './pending-cancels.js';
import { ScriptBatcher } from './script-batcher.js';
import {
  buildLedgerScripts,
  holdId,
  OP_CANCEL,
  OP_RELEASE,
  OP_RESERVE,
  OP_RESERVE_EXISTING,
  OP_SETTLE,
  type LedgerScripts,
} from './scripts.js';
import type { Readiness } from '../../../core/types.js';
import {
  FAIL_OPEN_RESERVATION_PREFIX,
  isFailOpenReservation,
  type RedisBudgetLedgerOptions,
  type RedisLedgerOperation,
} from './ledger-options.js';
import {
  assertReservation,
  assertSafeTokens,
  delay,
  errorMessage,
  loadRestored,
  rateLimitedWarn,
  toUsage,
  withTimeout,
} from './ledger-support.js';

export {
  FAIL_OPEN_RESERVATION_PREFIX,
  isFailOpenReservation,
  redisLedgerKeys,
  type RedisBudgetLedgerOptions,
  type RedisLedgerOperation,
} from './ledger-options.js';


type ScriptCommand = (script: string, numkeys: number, keys: string[], args: (string | number)[]) => Promise<unknown>;

interface LoadedScript {
  readonly lua: string;
  readonly sha: string;
}

type ScriptName = keyof LedgerScripts;

function loadScripts(scripts: LedgerScripts): Record<ScriptName, LoadedScript> {
  const load = (lua: string): LoadedScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
  return {
    ops: load(scripts.ops),
    usage: load(scripts.usage),
    setBudget: load(scripts.setBudget),
    endThread: load(scripts.endThread),
    seed: load(scripts.seed),
  };
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000;
const DEFAULT_THREAD_TTL_MS = 7 * 24 * 3_600_000;
/** Bounds the Lua `unpack` of one batch's holds (Lua's C stack holds about 8 000 values). */
const MAX_BATCH = 1_000;
const NOT_CHARGED: SettleResult = Object.freeze({ charged: false, usage: undefined, crossed: [] }) as SettleResult;
/**
 * A {@link BudgetLedger} in Redis, shared by every process that points at the same Redis and key prefix.
 *
 * Reserve, settle and release each run inside one Lua script, so concurrent callers on any number of
 * instances can never jointly overspend a thread. Holds expire after `reservationTtlMs`, so the budget
 * held by an instance that died comes back by itself. Settling is idempotent by reservation id, and each
 * threshold fires once per thread across all instances (on the instance whose settle crossed it).
 *
 * If Redis is unreachable, calls reject promptly with `LedgerUnavailableError` (code
 * `LEDGER_UNAVAILABLE`) and the ledger reconnects in the background; see `failOpen` for the alternative.
 *
 * Calls made in the same tick are sent as one script call (see `maxBatch`), which reads and writes each
 * thread it touches once; on Redis 7 a script's fixed cost and each command it runs dominate what a call
 * costs. A batch may touch many threads, so the ledger needs a standalone Redis (or a primary behind
 * Sentinel), not Redis Cluster.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { RedisBudgetLedger } from 'tokenwarden/redis';
 *
 * const ledger = new RedisBudgetLedger({ client: new Redis(process.env.REDIS_URL!), maxTokensPerThread: 50_000 });
 * ledger.onThreshold((e) => console.warn(`${e.threadId} passed ${e.percent}%`));
 * const hold = await ledger.reserve('thread-1', 1_200);   // BudgetExhaustedError if it can't afford it
 * // ... call the model ...
 * await ledger.settle(hold, { promptTokens: 700, completionTokens: 310 });
 * ```
 */
export class RedisBudgetLedger implements BudgetLedger {
  /** The ioredis client in use (the supplied one, or the ledger's own). */
  readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly keyPrefix: string;
  private readonly defaultMax: number;
  private readonly thresholdByArg: ReadonlyMap<string, Threshold>;
  private readonly scripts: Record<ScriptName, LoadedScript>;
  private readonly batcher: ScriptBatcher;
  private readonly failOpen: boolean;
  private readonly onError: (error: Error, operation: RedisLedgerOperation) => void;
  private readonly timeoutMs: number | undefined;
  private readonly now: () => number;
  private readonly listeners = new Set<(event: ThresholdEvent) => void>();
  private readonly onClientError: (err: Error) => void;
  private readonly onClientReady: () => void;
  private wasReady: boolean;
  private closed = false;
  private readonly commandTimeoutMs: number;
  /** Reservation ids whose reserve failed on this side (it may still run in Redis), to cancel. */
  private readonly cancels: PendingCancels;
  private readonly groupOf: ((threadId: string) => string | undefined) | undefined;
  private readonly restore: ((threadId: string) => Promise<RestoredSpend | undefined>) | undefined;
  /** Restores in flight on this instance, by thread. */
  private readonly restoring = new Map<string, Promise<RestoredSpend | undefined>>();
  private readonly maxThreadsPerGroup: number | undefined;

  constructor(options: RedisBudgetLedgerOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new ValidationError('options', options, 'must be an object');
    }
    const {
      client,
      url,
      keyPrefix = 'tw:',
      maxTokensPerThread = 100_000,
      thresholds = DEFAULT_THRESHOLDS,
      groupOf,
      maxThreadsPerGroup,
      groupWindowMs,
      restore,
      reservationTtlMs = DEFAULT_RESERVATION_TTL_MS,
      threadTtlMs = DEFAULT_THREAD_TTL_MS,
      failOpen = false,
      onError = rateLimitedWarn(),
      commandTimeoutMs = 1_000,
      maxBatch = 128,
      autoPipelining = false,
      now = Date.now,
    } = options;
    if (client !== undefined && (client === null || typeof (client as { evalsha?: unknown }).evalsha !== 'function')) {
      throw new ValidationError('client', client, 'must be an ioredis Redis client');
    }
    if (client !== undefined && url !== undefined) {
      throw new ValidationError('url', url, 'cannot be combined with client (the client already names its server)');
    }
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new ValidationError('url', url, 'must be a redis:// or rediss:// URL');
    }
    if (typeof keyPrefix !== 'string') throw new ValidationError('keyPrefix', keyPrefix, 'must be a string');
    assertSafeTokens('maxTokensPerThread', maxTokensPerThread, true);
    assertPositiveInteger('reservationTtlMs', reservationTtlMs);
    assertPositiveInteger('threadTtlMs', threadTtlMs);
    if (threadTtlMs < reservationTtlMs) {
      throw new ValidationError('threadTtlMs', threadTtlMs, `must be at least reservationTtlMs (${reservationTtlMs})`);
    }
    if (typeof failOpen !== 'boolean') throw new ValidationError('failOpen', failOpen, 'must be a boolean');
    if (typeof onError !== 'function') throw new ValidationError('onError', onError, 'must be a function');
    assertPositiveInteger('commandTimeoutMs', commandTimeoutMs);
    assertPositiveInteger('maxBatch', maxBatch);
    if (maxBatch > MAX_BATCH) throw new ValidationError('maxBatch', maxBatch, `must be at most ${MAX_BATCH}`);
    if (typeof autoPipelining !== 'boolean') {
      throw new ValidationError('autoPipelining', autoPipelining, 'must be a boolean');
    }
    if (typeof now !== 'function') throw new ValidationError('now', now, 'must be a function');
    if (groupOf !== undefined && typeof groupOf !== 'function') throw new ValidationError('groupOf', groupOf, 'must be a function');
    if (maxThreadsPerGroup !== undefined) {
      assertPositiveInteger('maxThreadsPerGroup', maxThreadsPerGroup);
      if (groupOf === undefined) throw new ValidationError('maxThreadsPerGroup', maxThreadsPerGroup, 'needs the groupOf option');
    }
    if (groupWindowMs !== undefined) {
      assertPositiveInteger('groupWindowMs', groupWindowMs);
      if (groupWindowMs < 60_000 || groupWindowMs > threadTtlMs) {
        throw new ValidationError('groupWindowMs', groupWindowMs, `must be from 60000 to threadTtlMs (${threadTtlMs})`);
      }
    }
    if (restore !== undefined && typeof restore !== 'function') throw new ValidationError('restore', restore, 'must be a function');
    this.restore = restore;
    this.groupOf = maxThreadsPerGroup === undefined ? undefined : groupOf;
    this.maxThreadsPerGroup = maxThreadsPerGroup;

    this.keyPrefix = keyPrefix;
    this.defaultMax = maxTokensPerThread;
    const validThresholds = validateThresholds(thresholds);
    this.thresholdByArg = new Map(validThresholds.map((t) => [String(t.percent), t]));
    this.scripts = loadScripts(
      buildLedgerScripts({
        defaultMax: maxTokensPerThread,
        holdTtlMs: reservationTtlMs,
        threadTtlMs,
        // Keys' idle expiry is pushed forward only once this much of it has elapsed (spares two PEXPIREs a
        // call), and never so late that a key could expire before a hold taken on it lapses.
        slackMs: Math.min(Math.floor(threadTtlMs / 10), 3_600_000, threadTtlMs - reservationTtlMs),
        thresholds: validThresholds.map((t) => t.percent),
        ...(maxThreadsPerGroup !== undefined ? { maxThreadsPerGroup } : {}),
        ...(groupWindowMs !== undefined ? { groupWindowMs } : {}),
      }),
    );
    this.batcher = new ScriptBatcher((keys, args) => {
      args.unshift(this.clock());
      return this.run('ops', keys, args);
    }, maxBatch);
    this.failOpen = failOpen;
    this.onError = onError;
    this.now = now;
    this.commandTimeoutMs = commandTimeoutMs;
    this.cancels = new PendingCancels(
      (threadId, id) => this.batcher.push(this.key(threadId), [OP_CANCEL, id]),
      () => !this.closed && this.client.status === 'ready',
      () => this.clock(),
      reservationTtlMs,
    );

    if (client) {
      this.client = client;
      this.ownsClient = false;
      this.timeoutMs = client.options.commandTimeout ? undefined : commandTimeoutMs;
    } else {
      this.client = new Redis(url ?? DEFAULT_URL, {
        // Queue only while the first connection is being made; once Redis has been up, calls made while
        // it is down fail at once (see assertConnected) instead of piling up.
        enableOfflineQueue: true,
        maxRetriesPerRequest: 1,
        commandTimeout: commandTimeoutMs,
        connectTimeout: Math.max(commandTimeoutMs, 5_000),
        // Keep reconnecting forever, at most 1 s apart, so the ledger recovers soon after Redis returns.
        retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1_000),
        enableAutoPipelining: autoPipelining,
      });
      this.ownsClient = true;
      this.timeoutMs = undefined;
    }
    this.wasReady = this.client.status === 'ready';
    this.onClientError = (err) => this.report(err, 'connection');
    this.onClientReady = () => {
      this.wasReady = true;
      void this.cancels.flush(); // Redis is back: cancel what timed out while it was away
    };
    this.client.on('error', this.onClientError);
    this.client.on('ready', this.onClientReady);
  }

  /** Holds `tokens` of the thread's budget (creating the thread with the default maximum if needed). */
  async reserve(threadId: string, tokens: number): Promise<Reservation> {
    assertThreadId('threadId', threadId);
    assertSafeTokens('tokens', tokens);
    // The id is chosen here, before the script runs: if the reply never comes (a timeout, a lost
    // connection), the script may still run later, and the id is what lets us cancel its hold.
    const id = holdId(randomUUID(), tokens);
    let reply: unknown[];
    try {
      // With restore, a missing thread is not created by the reserve: it is rebuilt first, then reserved.
      reply = await this.reserveOnce(threadId, id, this.restore ? OP_RESERVE_EXISTING : OP_RESERVE);
      if (reply.length === 0) {
        await this.bringBack(threadId);
        reply = await this.reserveOnce(threadId, id, OP_RESERVE);
      }
    } catch (err) {
      if (!this.failingOpen(err, 'reserve')) throw err;
      return { id: FAIL_OPEN_RESERVATION_PREFIX + id, threadId, tokens, expiresAt: undefined };
    }
    if (reply.length === 1) return { id, threadId, tokens, expiresAt: Number(reply[0]) };
    if (reply.length === 4) {
      const group = this.groupOf?.(threadId);
      throw new ThreadLimitError({ threadId, group, scope: 'group', limit: this.maxThreadsPerGroup ?? Number(reply[1]) });
    }
    if (reply.length === 2) {
      // Only possible if a cancel of this very id ran first (ids are unique): say so rather than guess.
      throw new LedgerUnavailableError('Redis budget ledger: reserve was cancelled before it ran; retry the call');
    }
    throw new BudgetExhaustedError({
      threadId,
      used: Number(reply[0]),
      reserved: Number(reply[1]),
      maxTokens: Number(reply[2]),
      requested: tokens,
    });
  }

  /**
   * Charges what the call used and frees its hold. A reservation already settled, released or expired,
   * or whose thread has ended, charges nothing (`charged: false`).
   */
  async settle(reservation: Reservation, usage: UsageCharge = {}): Promise<SettleResult> {
    assertReservation(reservation);
    if (usage === null || typeof usage !== 'object') throw new ValidationError('usage', usage, 'must be an object');
    const prompt = usage.promptTokens ?? 0;
    const completion = usage.completionTokens ?? 0;
    assertSafeTokens('promptTokens', prompt);
    assertSafeTokens('completionTokens', completion);
    if (isFailOpenReservation(reservation)) return NOT_CHARGED;
    let reply: unknown[];
    try {
      reply = await this.batched('settle', reservation.threadId, OP_SETTLE, reservation.id, prompt, completion);
    } catch (err) {
      if (!this.failingOpen(err, 'settle')) throw err;
      return NOT_CHARGED;
    }
    const status = reply[0];
    if (status === 0) return NOT_CHARGED;
    const snapshot = toUsage(reply[1], reply[2], reply[3], reply[4], reply[5]);
    if (status === 1) return { charged: false, usage: snapshot, crossed: [] };
    const crossed = this.crossings(reservation.threadId, snapshot, reply.slice(6));
    this.emit(crossed);
    return { charged: true, usage: snapshot, crossed };
  }

  /** Frees a hold without charging. Idempotent; releasing an expired or unknown hold does nothing. */
  async release(reservation: Reservation): Promise<void> {
    assertReservation(reservation);
    if (isFailOpenReservation(reservation)) return;
    try {
      await this.batched('release', reservation.threadId, OP_RELEASE, reservation.id);
    } catch (err) {
      // A release lost in a stall would leave the hold until its TTL: cancel the id until one gets through.
      this.cancels.add(reservation.threadId, reservation.id);
      if (!this.failingOpen(err, 'release')) throw err;
    }
  }

  /** The thread's usage (holds counted only while live), or `undefined` if it has no budget. */
  async usage(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    let reply: unknown[];
    try {
      reply = (await this.exec('usage', threadId, [this.clock()])) as unknown[];
    } catch (err) {
      if (!this.failingOpen(err, 'usage')) throw err;
      return undefined;
    }
    if (reply.length > 0) return toUsage(reply[0], reply[1], reply[2], reply[3], reply[4]);
    // Not in Redis: shown as restored, without recreating it (reads create nothing).
    return this.restore ? this.snapshot(await this.restored(threadId)) : undefined;
  }

  /**
   * Sets the thread's own maximum, above or below the default, before or after it has used anything.
   * Lowering it may cross thresholds, which fire like any other crossing.
   */
  async setBudget(threadId: string, maxTokens: number): Promise<ThreadUsage> {
    assertThreadId('threadId', threadId);
    assertSafeTokens('maxTokens', maxTokens, true);
    if (this.restore) {
      const exists = ((await this.exec('usage', threadId, [this.clock()])) as unknown[]).length > 0;
      if (!exists) await this.bringBack(threadId);
    }
    const args: (string | number)[] = [maxTokens, this.clock()];
    if (this.groupOf !== undefined) args.push(this.groupKey(threadId));
    const reply = (await this.exec('setBudget', threadId, args)) as unknown[];
    const snapshot = toUsage(reply[0], reply[1], reply[2], reply[3], reply[4]);
    this.emit(this.crossings(threadId, snapshot, reply.slice(5)));
    return snapshot;
  }

  /** Deletes the thread's keys and returns its final usage (with no holds), or `undefined`. */
  async endThread(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    const reply = (await this.exec('endThread', threadId, [])) as unknown[];
    if (reply.length > 0) return toUsage(reply[0], reply[1], reply[2], 0, reply[3]);
    return this.restore ? this.snapshot(await this.restored(threadId)) : undefined;
  }

  /**
   * Subscribes to the threshold crossings produced by this instance's settle and setBudget calls. Each
   * crossing is produced once across all instances, so a listener on every instance sees each exactly once.
   */
  onThreshold(listener: (event: ThresholdEvent) => void): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Detaches from the client; closes it only if the ledger created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.cancels.size > 0) {
      // Last chance for cancels still pending (bounded: close never waits long on a stalled Redis).
      await Promise.race([this.cancels.flush(), delay(this.commandTimeoutMs)]);
    }
    this.closed = true;
    this.cancels.stop();
    this.listeners.clear();
    this.client.off('ready', this.onClientReady);
    if (!this.ownsClient) {
      this.client.off('error', this.onClientError);
      return;
    }
    if (this.client.status !== 'end') {
      const ended = new Promise<void>((resolve) => this.client.once('end', () => resolve()));
      if (this.client.status === 'ready') {
        await Promise.race([this.client.quit().catch(() => undefined), delay(1_000)]);
      }
      this.client.disconnect();
      await Promise.race([ended, delay(1_000)]);
    }
    // Keep swallowing errors from a socket that is still being torn down.
    this.client.off('error', this.onClientError);
    this.client.on('error', () => undefined);
  }

  /**
   * Ready when Redis answers a PING within the command timeout. While Redis is unreachable: not ready
   * (calls get `LedgerUnavailableError`), or ready with a reason when `failOpen` lets calls through unmetered.
   */
  async readiness(): Promise<Readiness> {
    if (this.closed) return { ready: false, reason: 'the Redis budget ledger is closed' };
    let problem: string | undefined;
    if (this.client.status !== 'ready') problem = `Redis is unreachable (connection ${this.client.status})`;
    else {
      try {
        await withTimeout(this.client.ping(), this.commandTimeoutMs);
      } catch (err) {
        problem = `Redis did not answer PING: ${errorMessage(err)}`;
      }
    }
    if (problem === undefined) return { ready: true };
    return this.failOpen ? { ready: true, reason: `${problem}; calls pass unmetered (fail-open)` } : { ready: false, reason: problem };
  }

  /** Reservation ids whose reserve failed on this side and whose cancel has not got through yet. */
  get pendingCancels(): number {
    return this.cancels.size;
  }

  /** Queues a reserve; if it fails once sent, cancels its id (a throw before sending needs no cancel). */
  private reserveOnce(threadId: string, id: string, op: string): Promise<unknown[]> {
    const pending =
      this.groupOf === undefined
        ? this.batched('reserve', threadId, op, id)
        : this.batched('reserve', threadId, op, id, this.groupKey(threadId));
    return pending.catch((err: unknown) => {
      this.cancels.add(threadId, id);
      throw err;
    });
  }

  /** Recreates a thread missing from Redis with its recorded spend (no spend: the reserve creates it afresh). */
  private async bringBack(threadId: string): Promise<void> {
    const spent = await this.restored(threadId);
    if (spent === undefined || spent.requestCount === 0) return;
    const args: (string | number)[] = [this.clock(), spent.promptTokens, spent.completionTokens, spent.requestCount];
    if (this.groupOf !== undefined) args.push(this.groupKey(threadId));
    const reply = (await this.exec('seed', threadId, args)) as unknown[];
    if (reply[0] === 0) {
      throw new ThreadLimitError({ threadId, group: this.groupOf?.(threadId), scope: 'group', limit: Number(reply[2]) });
    }
  }

  /** The recorded spend of a thread, one restore per thread at a time on this instance. */
  private restored(threadId: string): Promise<RestoredSpend | undefined> {
    let pending = this.restoring.get(threadId);
    if (pending === undefined) {
      pending = loadRestored(this.restore!, threadId).finally(() => this.restoring.delete(threadId));
      this.restoring.set(threadId, pending);
    }
    return pending;
  }

  /** A thread's usage as recorded, for a thread not in Redis (default maximum, nothing held). */
  private snapshot(spent: RestoredSpend | undefined): ThreadUsage | undefined {
    if (spent === undefined || spent.requestCount === 0) return undefined;
    return toUsage(spent.promptTokens, spent.completionTokens, spent.requestCount, 0, this.defaultMax);
  }

  private clock(): number {
    return Math.floor(this.now());
  }

  private key(threadId: string): string {
    return `${this.keyPrefix}{${threadId}}:b`;
  }

  /** The key of the sorted set of the thread's group, or `''` when the thread has no group. */
  private groupKey(threadId: string): string {
    const group = this.groupOf!(threadId);
    return group === undefined ? '' : `${this.keyPrefix}{${group}}:g`;
  }

  /** Runs one operation of a single-operation script; any Redis failure becomes LedgerUnavailableError. */
  private async exec(name: Exclude<ScriptName, 'ops'>, threadId: string, args: (string | number)[]): Promise<unknown> {
    this.assertConnected(name);
    try {
      return await this.run(name, [this.key(threadId)], args);
    } catch (err) {
      throw this.unavailable(name, err);
    }
  }

  /** Queues one operation of the batch script (sent with the others of this tick). */
  private batched(
    name: 'reserve' | 'settle' | 'release',
    threadId: string,
    ...args: (string | number)[]
  ): Promise<unknown[]> {
    this.assertConnected(name);
    return this.batcher.push(this.key(threadId), args).catch((err: unknown) => {
      throw this.unavailable(name, err);
    });
  }

  /** EVALSHA, falling back to EVAL (which also caches the script) on NOSCRIPT; bounded by the timeout. */
  private async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    const script = this.scripts[name];
    // ioredis flattens one level of arrays: passing keys and args as arrays spares spreading them.
    const client = this.client as unknown as Record<'evalsha' | 'eval', ScriptCommand>;
    try {
      return await this.bounded(client.evalsha(script.sha, keys.length, keys, args));
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return await this.bounded(client.eval(script.lua, keys.length, keys, args));
    }
  }

  private bounded<T>(pending: Promise<T>): Promise<T> {
    return this.timeoutMs === undefined ? pending : withTimeout(pending, this.timeoutMs);
  }

  /** No thread id in the message: it may be an internal (namespaced) id, and the message reaches clients. */
  private unavailable(name: RedisLedgerOperation, err: unknown): LedgerUnavailableError {
    return new LedgerUnavailableError(`Redis budget ledger: ${name} failed: ${errorMessage(err)}`, { cause: err });
  }

  private assertConnected(operation: RedisLedgerOperation): void {
    if (this.closed) {
      throw new LedgerUnavailableError(`Redis budget ledger: ${operation} after close()`);
    }
    const status = this.client.status;
    if (status === 'ready') return;
    // Before the first connection, commands wait in ioredis's queue (bounded by the command timeout);
    // once Redis has been up, a lost connection means Redis is unreachable now: fail at once.
    if (this.wasReady || status === 'reconnecting' || status === 'close' || status === 'end') {
      throw new LedgerUnavailableError(
        `Redis budget ledger: ${operation} failed: Redis is unreachable (connection ${status}; reconnecting in the background)`,
      );
    }
  }

  private failingOpen(err: unknown, operation: RedisLedgerOperation): boolean {
    if (!this.failOpen || this.closed || !(err instanceof LedgerUnavailableError)) return false;
    this.report(err, operation);
    return true;
  }

  private report(err: unknown, operation: RedisLedgerOperation): void {
    try {
      this.onError(err instanceof Error ? err : new Error(String(err)), operation);
    } catch {
      // A failing error hook must not break accounting either.
    }
  }

  private crossings(threadId: string, usage: ThreadUsage, fired: unknown[]): ThresholdEvent[] {
    if (fired.length === 0) return [];
    const used = usage.totalTokens;
    const events: ThresholdEvent[] = [];
    for (const arg of fired) {
      const threshold = this.thresholdByArg.get(String(arg));
      if (!threshold) continue;
      events.push({
        threadId,
        percent: threshold.percent,
        severity: threshold.severity,
        percentUsed: Math.round(((used * 100) / usage.maxTokens) * 100) / 100,
        usedTokens: used,
        remainingTokens: usage.remaining,
        maxTokens: usage.maxTokens,
      });
    }
    return events;
  }

  private emit(events: ThresholdEvent[]): void {
    for (const event of events) {
      for (const listener of this.listeners) {
        try {
          const result: unknown = listener(event);
          if (result instanceof Promise) result.catch((err: unknown) => this.report(err, 'listener'));
        } catch (err) {
          this.report(err, 'listener');
        }
      }
    }
  }
}
