import { ValidationError } from '../errors.js';
import type { UsageStore } from '../stores/usage-store.js';
import type { UsageEvent } from '../usage/types.js';

/** A store that can also write synchronously (the SQLite store). */
interface SyncAppendStore extends UsageStore {
  appendSync(events: readonly UsageEvent[]): number;
}

function hasAppendSync(store: UsageStore): store is SyncAppendStore {
  return typeof (store as Partial<SyncAppendStore>).appendSync === 'function';
}

const DONE: Promise<void> = Promise.resolve();

/** Options of {@link UsageCommitter}. */
export interface UsageCommitterOptions {
  /**
   * How many calls are in flight (each may record an event soon). While fewer events are queued than
   * that, the batch waits up to `maxWaitTurns` more event-loop turns for them to join, so that under
   * load one commit carries many events. With one call in flight it is written at once.
   */
  inFlight?: () => number;
  /** Most extra event-loop turns a batch waits for in-flight calls. Default 3; 0 writes every turn. */
  maxWaitTurns?: number;
}

/**
 * Group commit of usage events: events recorded while requests are in flight are written to the store
 * together (one transaction per event-loop turn, or a few turns when more in-flight calls are about to
 * finish) instead of one commit per call, and each response waits for the batch holding its event
 * ({@link durable}) before it is sent. At 32 concurrent calls this divides the store's per-commit cost
 * by the batch size while keeping "stored before acknowledged".
 *
 * @example
 * ```ts
 * const committer = new UsageCommitter(store, (err) => console.error(err), { inFlight: () => requestsInFlight });
 * const stop = tracker.subscribe((e) => committer.add(e));
 * await committer.durable(event); // before answering
 * ```
 */
export class UsageCommitter {
  private pending: UsageEvent[] = [];
  private batch: Promise<void> | undefined;
  private resolveBatch: (() => void) | undefined;
  private rejectBatch: ((err: unknown) => void) | undefined;
  private readonly batchOf = new WeakMap<UsageEvent, Promise<void>>();
  private writing: Promise<void> = DONE;
  private closed = false;
  private waitedTurns = 0;
  private readonly inFlight: (() => number) | undefined;
  private readonly maxWaitTurns: number;

  constructor(
    private readonly store: UsageStore,
    private readonly onError: (err: unknown, events: readonly UsageEvent[]) => void,
    options: UsageCommitterOptions = {},
  ) {
    const maxWaitTurns = options.maxWaitTurns ?? 3;
    if (!Number.isSafeInteger(maxWaitTurns) || maxWaitTurns < 0) {
      throw new ValidationError('options.maxWaitTurns', maxWaitTurns, 'must be an integer >= 0');
    }
    if (options.inFlight !== undefined && typeof options.inFlight !== 'function') {
      throw new ValidationError('options.inFlight', options.inFlight, 'must be a function returning a number');
    }
    this.inFlight = options.inFlight;
    this.maxWaitTurns = maxWaitTurns;
  }

  /** Queues an event for the next batch. */
  add(event: UsageEvent): void {
    if (this.closed) {
      // Late events (a stream settled after shutdown began) are still written, one by one.
      this.batchOf.set(event, this.write([event]));
      return;
    }
    if (!this.batch) {
      this.batch = new Promise<void>((resolve, reject) => {
        this.resolveBatch = resolve;
        this.rejectBatch = reject;
      });
      // A rejected batch is reported to the requests awaiting it; never an unhandled rejection.
      this.batch.catch(() => undefined);
      this.waitedTurns = 0;
      setImmediate(this.onTurn);
    }
    this.pending.push(event);
    this.batchOf.set(event, this.batch);
  }

  /** Resolves once `event` is in the store (at once for events not handed to this committer). */
  durable(event: UsageEvent): Promise<void> {
    return this.batchOf.get(event) ?? DONE;
  }

  /** Writes whatever is queued and waits for every write in progress. */
  async flush(): Promise<void> {
    this.flushBatch();
    await this.writing.catch(() => undefined);
  }

  /** Flushes, then writes later events one by one (used during shutdown). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private readonly onTurn = (): void => {
    if (!this.batch) return;
    if (this.inFlight && this.waitedTurns < this.maxWaitTurns && this.pending.length < this.inFlight()) {
      this.waitedTurns++;
      setImmediate(this.onTurn);
      return;
    }
    this.flushBatch();
  };

  private flushBatch(): void {
    const events = this.pending;
    const resolve = this.resolveBatch;
    const reject = this.rejectBatch;
    this.pending = [];
    this.batch = this.resolveBatch = this.rejectBatch = undefined;
    if (events.length === 0 || !resolve || !reject) return;
    this.write(events).then(resolve, reject);
  }

  private write(events: UsageEvent[]): Promise<void> {
    const store = this.store;
    let done: Promise<void>;
    if (hasAppendSync(store)) {
      try {
        store.appendSync(events);
        done = DONE;
      } catch (err) {
        this.onError(err, events);
        done = Promise.reject(err);
      }
    } else {
      done = store.append(events).catch((err: unknown) => {
        this.onError(err, events);
        throw err;
      });
    }
    done.catch(() => undefined);
    const previous = this.writing;
    this.writing = Promise.all([previous.catch(() => undefined), done.catch(() => undefined)]).then(() => undefined);
    return done;
  }
}
