import { ProviderError } from '../core/errors.js';

/**
 * Per-backend concurrency limit: at most `max` calls run at once; up to `maxQueue` more wait in FIFO
 * order for a slot. A waiter whose signal aborts leaves the queue at once.
 *
 * @example
 * ```ts
 * const limiter = new ConcurrencyLimiter({ max: 2, maxQueue: 100, name: 'openai' });
 * await limiter.acquire(signal);
 * try { await callTheBackend(); } finally { limiter.release(); }
 * ```
 */
export class ConcurrencyLimiter {
  readonly max: number;
  readonly maxQueue: number;
  private readonly name: string;
  private readonly provider: string;
  private running = 0;
  private readonly waiters: Waiter[] = [];

  constructor(options: { max: number; maxQueue: number; name: string; provider?: string }) {
    this.max = options.max;
    this.maxQueue = options.maxQueue;
    this.name = options.name;
    this.provider = options.provider ?? 'unknown';
  }

  /** Calls holding a slot. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Whether a slot is free right now. */
  get hasFreeSlot(): boolean {
    return this.running < this.max;
  }

  /**
   * Takes a slot, waiting for one if needed. Rejects with the signal's reason if it aborts while
   * waiting, and with a retryable `BACKEND_BUSY` {@link ProviderError} when the queue is full.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running < this.max) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(
        new ProviderError({
          code: 'BACKEND_BUSY',
          provider: this.provider,
          backend: this.name,
          isRetryable: true,
          message:
            `backend "${this.name}" is busy: ${this.running} calls running (maxConcurrent ${this.max}) ` +
            `and ${this.waiters.length} waiting (queue limit ${this.maxQueue})`,
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** Frees a slot, handing it straight to the oldest waiter if there is one. */
  release(): void {
    const next = this.waiters.shift();
    if (next) {
      if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
      next.resolve();
      return;
    }
    if (this.running > 0) this.running--;
  }
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A charge recorded in a {@link TokenRateWindow}, adjustable once the real usage is known. */
export interface WindowEntry {
  readonly bucket: number;
  tokens: number;
}

/**
 * Tokens-per-minute limit of one backend: a sliding window of the tokens sent in the last
 * `windowMs` (default 60 s), kept in one-second buckets so memory stays bounded whatever the call rate.
 *
 * @example
 * ```ts
 * const tpm = new TokenRateWindow({ tokensPerMinute: 90_000 });
 * if (tpm.fits(1_200, Date.now())) {
 *   const entry = tpm.add(1_200, Date.now());
 *   // ... after the call:
 *   tpm.adjust(entry, 950);
 * }
 * ```
 */
export class TokenRateWindow {
  readonly tokensPerMinute: number;
  private readonly windowMs: number;
  private readonly bucketMs: number;
  /** Bucket start (ms) → tokens, oldest first (Map keeps insertion order). */
  private readonly buckets = new Map<number, number>();
  private total = 0;

  constructor(options: { tokensPerMinute: number; windowMs?: number; bucketMs?: number }) {
    this.tokensPerMinute = options.tokensPerMinute;
    this.windowMs = options.windowMs ?? 60_000;
    this.bucketMs = options.bucketMs ?? 1_000;
  }

  /** Tokens charged within the window ending at `now`. */
  used(now: number): number {
    this.prune(now);
    return this.total;
  }

  /**
   * Whether `tokens` more fit under the limit at `now`. A call larger than the whole limit fits only
   * into an empty window (otherwise it could never run).
   */
  fits(tokens: number, now: number): boolean {
    this.prune(now);
    return this.total === 0 || this.total + tokens <= this.tokensPerMinute;
  }

  /** Milliseconds from `now` until `tokens` more fit (0 if they fit now). */
  waitMs(tokens: number, now: number): number {
    this.prune(now);
    if (this.total === 0 || this.total + tokens <= this.tokensPerMinute) return 0;
    let remaining = this.total;
    for (const [start, amount] of this.buckets) {
      remaining -= amount;
      if (remaining === 0 || remaining + tokens <= this.tokensPerMinute) {
        return Math.max(1, start + this.windowMs - now);
      }
    }
    return this.windowMs;
  }

  /** Charges `tokens` at `now`. */
  add(tokens: number, now: number): WindowEntry {
    this.prune(now);
    const bucket = now - (now % this.bucketMs);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + tokens);
    this.total += tokens;
    return { bucket, tokens };
  }

  /** Replaces an entry's charge by the real figure (no-op once its bucket has left the window). */
  adjust(entry: WindowEntry, tokens: number): void {
    const current = this.buckets.get(entry.bucket);
    if (current !== undefined) {
      const next = Math.max(0, current - entry.tokens + tokens);
      this.total += next - current;
      this.buckets.set(entry.bucket, next);
    }
    entry.tokens = tokens;
  }

  private prune(now: number): void {
    for (const [start, amount] of this.buckets) {
      if (start + this.windowMs > now) break;
      this.buckets.delete(start);
      this.total -= amount;
    }
  }
}
