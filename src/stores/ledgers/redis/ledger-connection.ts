import { Redis } from 'ioredis';
import { backoffCeilingMs } from '../../../core/backoff.js';
import { LedgerUnavailableError } from '../../../core/errors.js';
import type { Readiness } from '../../../core/types.js';
import type { RedisLedgerOperation } from './ledger-options.js';
import { errorMessage } from '../../../core/error-fields.js';
import { delay, withTimeout } from './ledger-support.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** What {@link LedgerConnection} needs from the ledger's options. */
export interface LedgerConnectionOptions {
  client: Redis | undefined;
  url: string | undefined;
  commandTimeoutMs: number;
  autoPipelining: boolean;
  /** Receives connection errors. */
  report: (error: unknown, operation: RedisLedgerOperation) => void;
  /** Called each time the connection becomes ready. */
  onReady: () => void;
}

/**
 * The Redis connection of a {@link RedisBudgetLedger}: the supplied client or the ledger's own (which it
 * closes), whether calls may be sent now, the command timeout on a supplied client that has none, and
 * readiness.
 *
 * @example
 * ```ts
 * const connection = new LedgerConnection({ client: undefined, url, commandTimeoutMs: 1_000, autoPipelining: false, report, onReady });
 * connection.assertConnected('reserve'); // LedgerUnavailableError once Redis has gone away
 * ```
 */
export class LedgerConnection {
  /** The ioredis client in use (the supplied one, or the ledger's own). */
  readonly client: Redis;
  private readonly ownsClient: boolean;
  /** Applied by the ledger to a supplied client without `commandTimeout`; ioredis applies it otherwise. */
  private readonly timeoutMs: number | undefined;
  private readonly commandTimeoutMs: number;
  private readonly onClientError: (err: Error) => void;
  private readonly onClientReady: () => void;
  private wasReady: boolean;
  private closedNow = false;

  constructor(options: LedgerConnectionOptions) {
    const { client, commandTimeoutMs } = options;
    this.commandTimeoutMs = commandTimeoutMs;
    this.ownsClient = client === undefined;
    this.client = client ?? ownClient(options.url ?? DEFAULT_URL, commandTimeoutMs, options.autoPipelining);
    this.timeoutMs = client !== undefined && !client.options.commandTimeout ? commandTimeoutMs : undefined;
    this.wasReady = this.client.status === 'ready';
    this.onClientError = (err) => options.report(err, 'connection');
    this.onClientReady = () => {
      this.wasReady = true;
      options.onReady();
    };
    this.client.on('error', this.onClientError);
    this.client.on('ready', this.onClientReady);
  }

  get closed(): boolean {
    return this.closedNow;
  }

  /** Whether a command sent now would go out at once. */
  get ready(): boolean {
    return !this.closedNow && this.client.status === 'ready';
  }

  /** Bounds a command by the command timeout when ioredis does not. */
  bounded<T>(pending: Promise<T>): Promise<T> {
    return this.timeoutMs === undefined ? pending : withTimeout(pending, this.timeoutMs);
  }

  /** Throws `LedgerUnavailableError` after close, or while Redis is known to be unreachable. */
  assertConnected(operation: RedisLedgerOperation): void {
    if (this.closedNow) {
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

  /** Ready when Redis answers a PING within the command timeout (see the ledger's `readiness`). */
  async readiness(failOpen: boolean): Promise<Readiness> {
    if (this.closedNow) return { ready: false, reason: 'the Redis budget ledger is closed' };
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
    return failOpen ? { ready: true, reason: `${problem}; calls pass unmetered (fail-open)` } : { ready: false, reason: problem };
  }

  /** Detaches from the client; closes it only if the ledger created it. */
  async close(): Promise<void> {
    this.closedNow = true;
    const client = this.client;
    client.off('ready', this.onClientReady);
    if (!this.ownsClient) {
      client.off('error', this.onClientError);
      return;
    }
    if (client.status !== 'end') {
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      if (client.status === 'ready') {
        await Promise.race([client.quit().catch(() => undefined), delay(1_000)]);
      }
      client.disconnect();
      await Promise.race([ended, delay(1_000)]);
    }
    // Keep swallowing errors from a socket that is still being torn down.
    client.off('error', this.onClientError);
    client.on('error', () => undefined);
  }
}

function ownClient(url: string, commandTimeoutMs: number, autoPipelining: boolean): Redis {
  return new Redis(url, {
    // Queue only while the first connection is being made; once Redis has been up, calls made while
    // it is down fail at once (see assertConnected) instead of piling up.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 5_000),
    // Keep reconnecting forever, at most 1 s apart, so the ledger recovers soon after Redis returns.
    retryStrategy: (attempt) => backoffCeilingMs(attempt + 1, 50, 1_000),
    enableAutoPipelining: autoPipelining,
  });
}
