import type { UsageRowValues } from '../shared/usage-row.js';
import { SqliteWorker, type WorkerJob } from './sqlite-worker.js';

/** What the writer thread needs to open its own connection to the store's file. */
export interface SqliteWriterThreadOptions {
  path: string;
  /** `INSERT ... ON CONFLICT(id) DO NOTHING` for one row of {@link UsageRowValues}. */
  insertSql: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  walAutocheckpointPages: number;
  checkpointIntervalMs: number;
}

// It drains every queued batch with receiveMessageOnPort and commits them in one transaction (one WAL
// append for all of them); if that fails, each batch is retried alone so one bad batch cannot fail the
// others. It answers (one message for all the batches it drained) only after the commit has returned.
const WRITER_SOURCE = `
const db = new Database(o.path);
db.pragma('busy_timeout = ' + o.busyTimeoutMs);
db.pragma('synchronous = ' + o.synchronous);
db.pragma('wal_autocheckpoint = ' + o.walAutocheckpointPages);
const insert = db.prepare(o.insertSql);
const commit = db.transaction((batches) => batches.map((b) => {
  let stored = 0;
  for (const row of b.rows) stored += insert.run(...row).changes;
  return stored;
}));
let closing = false;
port.on('message', (first) => {
  if (closing) return;
  const batches = [];
  for (let m = first; m; m = receiveMessageOnPort(port)?.message) {
    if (m.close) closing = true;
    else batches.push(m);
  }
  if (batches.length > 0 && !shmOk()) {
    port.postMessage(batches.map((b) => ({ id: b.id, error: SHM_BROKEN })));
  } else if (batches.length > 0) {
    let stored;
    try {
      stored = commit.immediate(batches);
    } catch {
      stored = undefined;
    }
    port.postMessage(batches.map((b, i) => {
      if (stored) return { id: b.id, value: stored[i] };
      try {
        return { id: b.id, value: commit.immediate([b])[0] };
      } catch (err) {
        return { id: b.id, error: failure(err) };
      }
    }));
  }
  if (closing) {
    clearInterval(timer);
    if (shmOk()) {
      try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
      db.close();
    }
    port.close();
  }
});
const timer = setInterval(() => {
  if (!shmOk()) return;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, o.checkpointIntervalMs);
`;

/**
 * The SQLite store's writer thread: a worker thread with its own better-sqlite3 connection to the same
 * WAL-mode file, which commits batches of rows off the caller's event loop. {@link write} resolves once
 * the batch is committed (so "acknowledged" still means "on disk"), and the thread checkpoints the WAL.
 * If the thread stops unexpectedly, the batches it had not answered are handed to `fallback` (inserts are
 * idempotent by event id, so a batch that was in fact committed is not stored twice).
 */
export class SqliteWriterThread {
  private readonly thread: SqliteWorker<number>;

  constructor(
    private readonly options: SqliteWriterThreadOptions,
    private readonly fallback: (rows: UsageRowValues[]) => number,
  ) {
    this.thread = new SqliteWorker<number>(WRITER_SOURCE, options, (reason, jobs, closing) => this.onStopped(reason, jobs, closing));
  }

  /** Rows handed to the thread and not yet committed. */
  get pending(): number {
    return this.thread.pending;
  }

  /**
   * Commits `rows` in the thread; resolves with how many were new once the commit has returned. Rejects
   * with the SQLite error (its `code` kept) when the commit fails.
   */
  write(rows: UsageRowValues[]): Promise<number> {
    if (this.thread.stopped) return Promise.resolve().then(() => this.fallback(rows));
    return this.thread.request({ rows }, rows.length);
  }

  /** Waits until every batch handed over so far is answered (committed or failed). */
  flush(): Promise<void> {
    return this.thread.flush();
  }

  /** Commits what is queued, checkpoints, closes the thread's connection and ends the thread. Idempotent. */
  close(): Promise<void> {
    // Batches handed over before close are answered by the thread; later ones go to `fallback`.
    return this.thread.close();
  }

  /**
   * The thread ended (closed, or died): every unanswered batch is written through `fallback` instead.
   * A death is reported as a process warning (code `TOKENWARDEN_SQLITE_WRITER`), since writes go on.
   */
  private onStopped(reason: Error, jobs: Array<WorkerJob<number>>, closing: boolean): void {
    if (!closing) {
      process.emitWarning(
        `the SQLite writer thread for ${this.options.path} stopped (${reason.message}); usage events are now committed on the calling thread`,
        { code: 'TOKENWARDEN_SQLITE_WRITER' },
      );
    }
    for (const job of jobs) {
      try {
        job.resolve(this.fallback(job.message.rows as UsageRowValues[]));
      } catch (err) {
        job.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}
