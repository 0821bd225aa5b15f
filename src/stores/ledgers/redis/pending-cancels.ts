import { backoffCeilingMs } from '../../../core/backoff.js';

/**
 * The reservation ids whose reserve failed or timed out on the client: the script may have run, or may
 * still run when Redis resumes, so each id is cancelled (its hold released, or its id tombstoned so that
 * the late reserve holds nothing) until a cancel gets through, or until a hold of that id would have lapsed
 * by itself. Failed cancels are retried, backing off from 250 ms to 5 s; at most 100 000 ids wait (the
 * oldest is dropped first: its hold, if any, still lapses after the hold TTL).
 *
 * @example
 * ```ts
 * const cancels = new PendingCancels((threadId, id) => batcher.push(key(threadId), ['C', id]), () => client.status === 'ready', Date.now, 600_000);
 * cancels.add('thread-1', id); // after that reserve's call failed
 * ```
 */
export class PendingCancels {
  private readonly pending = new Map<string, PendingCancel>();
  private timer: NodeJS.Timeout | undefined;
  /** Retries since a cancel last got through, counting this one (sets the backoff). */
  private attempt = 1;
  private stopped = false;

  constructor(
    private readonly send: (threadId: string, id: string) => Promise<unknown>,
    private readonly canSend: () => boolean,
    private readonly now: () => number,
    private readonly holdTtlMs: number,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(threadId: string, id: string): void {
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    const entry: PendingCancel = { threadId, until: this.now() + this.holdTtlMs, sending: false };
    this.pending.set(id, entry);
    // Only this one (a full flush per failure would be quadratic when thousands fail together).
    if (!this.sendOne(id, entry)) this.retryLater();
  }

  /** Sends every pending cancel not already on its way; resolves when those sent have answered. */
  flush(): Promise<unknown> {
    const sent: Promise<unknown>[] = [];
    const now = this.now();
    for (const [id, c] of this.pending) {
      if (c.until <= now) {
        this.pending.delete(id); // a hold of its reserve has lapsed by itself
        continue;
      }
      const sending = this.sendOne(id, c);
      if (sending) sent.push(sending);
    }
    if (this.pending.size > 0 && sent.length === 0) this.retryLater();
    return Promise.all(sent);
  }

  /** Sends one cancel unless it is already on its way or cannot be sent now; the send, or `undefined`. */
  private sendOne(id: string, c: PendingCancel): Promise<void> | undefined {
    if (c.sending || this.stopped || !this.canSend()) return undefined;
    c.sending = true;
    return this.send(c.threadId, id).then(
      () => {
        this.pending.delete(id);
        this.attempt = 1;
      },
      () => {
        c.sending = false;
        this.retryLater();
      },
    );
  }

  /** No more sends or retries. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private retryLater(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, backoffCeilingMs(this.attempt, RETRY_MIN_MS, RETRY_MAX_MS));
    this.timer.unref();
    this.attempt++;
  }
}

const MAX_PENDING = 100_000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

interface PendingCancel {
  threadId: string;
  /** Epoch ms after which a hold of this id would have lapsed anyway. */
  until: number;
  sending: boolean;
}
