import { appendFileSync } from 'node:fs';
import { backoffCeilingMs } from '../../../core/backoff.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import type { UsageEvent } from '../../../usage/types.js';
import type { EventSpool, SpoolEntry, SpoolRecovery } from '../spool/event-spool.js';
import { isDataError, messageOf, translatePgError } from './postgres-errors.js';
import { PostgresHealth } from './postgres-health.js';
import type { PostgresStoreWarning } from './postgres-options.js';

interface FlushWaiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** What the queue needs from its store. */
export interface PostgresWriterOptions {
  spool: EventSpool;
  /** The spool path as given in the store's options, for messages. */
  spoolPath: string;
  /** Writes one batch to PostgreSQL (opening the store first when needed). */
  writeBatch: (events: readonly UsageEvent[]) => Promise<unknown>;
  /** `PostgreSQL table schema.table`, for messages. */
  describe: string;
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  warn: (warning: PostgresStoreWarning) => void;
}

/**
 * The write-behind queue of {@link PostgresUsageStore}: events are appended to the local spool
 * synchronously, held in memory (at most `maxQueue`; beyond that they are read back from the spool) and
 * written to PostgreSQL in batches by one background loop, which confirms written lines in the spool.
 * A failed write is retried with backoff, never dropped; an event the database refuses (a data error)
 * is isolated by halving the batch and set aside in `<spool>.rejected`.
 */
export class PostgresWriter {
  private readonly spool: EventSpool;
  private readonly health: PostgresHealth;
  private readonly o: PostgresWriterOptions;
  private recoveryFound: SpoolRecovery | undefined;
  private queue: SpoolEntry[] = [];
  private overflowFrom: number | undefined;
  private pendingCount = 0;
  private confirmedTo = 0;
  private running: Promise<void> | undefined;
  private rerun = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Smaller batch size while isolating an event the database refuses (data error); undefined = batchSize. */
  private probe: number | undefined;
  private backoff: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private flushWaiters: FlushWaiter[] = [];
  private capacityWaiters: Array<() => void> = [];
  private closing = false;
  private closed = false;
  private lastError: unknown;

  constructor(options: PostgresWriterOptions) {
    this.o = options;
    this.spool = options.spool;
    this.health = new PostgresHealth(this.spool, options.describe, options.maxQueue);
  }

  /** Events spooled but not yet confirmed by the database. */
  get pending(): number {
    return this.pendingCount;
  }

  /** The last error a write hit (cleared when a write succeeds). */
  get lastWriteError(): unknown {
    return this.lastError;
  }

  /** What opening the spool found (unconfirmed lines, torn bytes); undefined until it was opened. */
  get recovery(): SpoolRecovery | undefined {
    return this.recoveryFound;
  }

  /** Why the queue cannot keep new events now (its spool unusable, too many events waiting), or undefined. */
  readinessProblem(): string | undefined {
    try {
      this.open();
    } catch (err) {
      return (err as Error).message;
    }
    return this.health.problem(this.pendingCount, this.lastError);
  }

  /** Takes the spool (once) and starts replaying what a previous run left unconfirmed in it. */
  open(): void {
    if (this.spool.isOpen || this.closed) return;
    const recovery = this.spool.open();
    this.health.start();
    this.recoveryFound = recovery;
    this.confirmedTo = this.spool.start;
    if (recovery.lines > 0) {
      this.pendingCount += recovery.lines;
      this.overflowFrom = this.spool.start;
      this.kick(true);
    }
  }

  /** Spools events, waiting first while the in-memory queue is full; resolves once they are spooled. */
  async append(list: readonly UsageEvent[]): Promise<void> {
    this.open();
    for (let i = 0; i < list.length; i += this.o.maxQueue) {
      const chunk = list.slice(i, i + this.o.maxQueue);
      while (this.overflowFrom !== undefined || this.queue.length + chunk.length > this.o.maxQueue) {
        await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
        this.assertOpen();
      }
      this.appendSync(chunk);
    }
  }

  /** Spools events synchronously and queues them (or leaves them to be read back from the spool). Never waits. */
  appendSync(list: readonly UsageEvent[]): void {
    if (this.closed) throw new UsageStoreError('STORE_CLOSED', this.o.describe, `usage store ${this.o.describe} is closed`);
    const spool = this.spool;
    this.open();
    const refusal = this.health.refusal;
    if (refusal) throw new UsageStoreError('STORE_NOT_READY', spool.path, `usage store cannot keep events: ${refusal}`);
    let written: { start: number; ends: number[] };
    try {
      written = spool.append(list);
      this.health.noteWrite();
    } catch (err) {
      this.health.noteWrite(err);
      throw err;
    }
    const { start, ends } = written;
    this.pendingCount += list.length;
    if (this.overflowFrom === undefined && this.queue.length + list.length <= this.o.maxQueue) {
      for (let i = 0; i < list.length; i++) this.queue.push({ event: list[i]!, end: ends[i]! });
    } else if (this.overflowFrom === undefined) {
      this.overflowFrom = start;
    }
    this.kick(false);
  }

  /**
   * Waits until every event spooled so far is committed in PostgreSQL. Rejects with `STORE_UNAVAILABLE`
   * if a write fails meanwhile; the events stay in the spool and the loop keeps retrying.
   */
  async flush(): Promise<void> {
    if (this.closed) return;
    this.open();
    const target = this.spool.end;
    if (this.pendingCount === 0 || this.confirmedTo >= target) return;
    await new Promise<void>((resolve, reject) => {
      this.flushWaiters.push({ target, resolve, reject });
      this.kick(true);
    });
  }

  /**
   * Writes what is pending (if the database is reachable) and releases the spool; events not written
   * stay in it for the next store opened on it. Marks the queue closing at once (before any await).
   */
  async close(): Promise<void> {
    this.closing = true;
    this.cancelBackoff();
    try {
      await this.flush();
    } catch {
      // Reported below as pending events.
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.cancelBackoff();
    await this.running;
    for (const wake of this.capacityWaiters.splice(0)) wake();
    if (this.spool.isOpen) {
      if (this.pendingCount > 0) {
        this.o.warn({
          code: 'STORE_CLOSED_WITH_PENDING',
          message: `${this.pendingCount} usage events were not yet written to ${this.o.describe}; they stay in ${this.o.spoolPath} and are replayed on next open`,
        });
      }
      this.spool.close();
    }
    this.health.stop();
  }

  private assertOpen(): void {
    if (this.closing) throw new UsageStoreError('STORE_CLOSED', this.o.describe, `usage store ${this.o.describe} is closed`);
  }

  /** Starts the writer now (full batch, overflow, flush requested) or after `flushIntervalMs`. */
  private kick(now: boolean): void {
    if (this.closed) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (now || this.mustWriteNow()) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.running = this.writeLoop()
        .catch((err: unknown) => this.noteFailure(err))
        .finally(() => {
          this.running = undefined;
          if (this.rerun) {
            this.rerun = false;
            this.kick(false);
          }
        });
    } else if (!this.timer && this.queue.length > 0) {
      this.armTimer();
    }
  }

  /** A full batch, events to read back from the spool, or someone waiting: no reason to wait for more. */
  private mustWriteNow(): boolean {
    return this.queue.length >= this.o.batchSize || this.overflowFrom !== undefined || this.flushWaiters.length > 0;
  }

  private armTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick(true);
    }, this.o.flushIntervalMs);
  }

  private async writeLoop(): Promise<void> {
    let first = true;
    while (!this.closed) {
      if (this.queue.length === 0 && this.overflowFrom !== undefined) this.refill();
      if (this.queue.length === 0) break;
      if (!(first || this.closing || this.mustWriteNow())) {
        this.rerun = false;
        if (!this.timer) this.armTimer();
        break;
      }
      first = false;
      const batch = this.queue.slice(0, this.probe ?? this.o.batchSize);
      if (!(await this.writeOne(batch))) {
        if (this.closing) break;
        await this.sleepBackoff();
      }
    }
  }

  /**
   * Writes one batch and confirms it. False when the database is failing (to back off); true when the
   * loop can go on: written, or a data error narrowed down (the batch halved, or its one event set aside).
   */
  private async writeOne(batch: SpoolEntry[]): Promise<boolean> {
    try {
      await this.o.writeBatch(batch.map((e) => e.event));
    } catch (err) {
      if (!isDataError(err)) {
        this.noteFailure(err);
        return false;
      }
      // The database refuses something in this batch: halve until the culprit is alone, then set
      // it aside in the rejected file (kept, reported) so the events behind it are not held up.
      if (batch.length > 1) this.probe = Math.ceil(batch.length / 2);
      else this.reject(batch[0]!, err);
      return true;
    }
    if (this.probe !== undefined && batch.length >= this.probe) this.probe = undefined;
    this.failures = 0;
    this.lastError = undefined;
    this.queue.splice(0, batch.length);
    this.pendingCount -= batch.length;
    this.confirm(batch[batch.length - 1]!.end);
    return true;
  }

  /** Moves one event the database refuses to `<spool>.rejected` (JSON lines) and reports it. */
  private reject(entry: SpoolEntry, err: unknown): void {
    const file = `${this.spool.path}.rejected`;
    appendFileSync(file, JSON.stringify({ event: entry.event, error: messageOf(err) }) + '\n');
    this.o.warn({
      code: 'STORE_EVENT_REJECTED',
      message: `${this.o.describe} refused usage event ${entry.event.id} (${messageOf(err)}); kept in ${file}`,
    });
    this.queue.shift();
    this.pendingCount -= 1;
    this.probe = undefined;
    this.confirm(entry.end);
  }

  /** Loads events that overflowed the queue (or were left by a crash) back from the spool. */
  private refill(): void {
    const spool = this.spool;
    const { entries, next, skipped } = spool.read(this.overflowFrom!, this.o.maxQueue);
    this.pendingCount -= skipped;
    this.overflowFrom = next >= spool.end ? undefined : next;
    if (entries.length > 0) {
      entries[entries.length - 1]!.end = next;
      this.queue.push(...entries);
    } else {
      this.confirm(next);
    }
    if (this.overflowFrom === undefined) this.wakeCapacity();
  }

  private confirm(upTo: number): void {
    if (upTo > this.confirmedTo) {
      this.confirmedTo = upTo;
      this.spool.confirm(upTo);
    }
    if (this.pendingCount < 0) this.pendingCount = 0;
    const waiting = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiting) {
      if (w.target <= this.confirmedTo || this.pendingCount === 0) w.resolve();
      else this.flushWaiters.push(w);
    }
    this.wakeCapacity();
  }

  private wakeCapacity(): void {
    if (this.overflowFrom !== undefined || this.queue.length >= this.o.maxQueue) return;
    for (const wake of this.capacityWaiters.splice(0)) wake();
  }

  private noteFailure(err: unknown): void {
    const error = translatePgError(err, this.o.describe);
    this.lastError = error;
    this.failures++;
    if (this.failures === 1) {
      this.o.warn({
        code: 'STORE_WRITE_FAILED',
        message: `writing usage events to ${this.o.describe} failed (${messageOf(error)}); ` +
          `${this.pendingCount} events kept in ${this.o.spoolPath}, retrying`,
      });
    }
    const failure = new UsageStoreError(
      'STORE_UNAVAILABLE',
      this.o.describe,
      `usage store ${this.o.describe} is unavailable (${messageOf(error)}); ` +
        `${this.pendingCount} events are kept in ${this.o.spoolPath} and retried`,
      { cause: error },
    );
    for (const w of this.flushWaiters.splice(0)) w.reject(failure);
  }

  private async sleepBackoff(): Promise<void> {
    const ms = backoffCeilingMs(this.failures, 100, 5000);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      // Spooled events are safe on disk: a process with nothing else to do may exit while the database is down.
      if (this.flushWaiters.length === 0 && !this.closing) timer.unref();
      this.backoff = { timer, resolve };
    });
    this.backoff = undefined;
  }

  private cancelBackoff(): void {
    if (!this.backoff) return;
    clearTimeout(this.backoff.timer);
    this.backoff.resolve();
  }
}
