import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { UsageRowValues } from '../shared/usage-row.js';

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

/** A failed write as the thread reports it: the SQLite error's code and message. */
interface WriterFailure {
  code?: string;
  message: string;
}

type Reply = { id: number; stored: number } | { id: number; error: WriterFailure };

interface Job {
  rows: UsageRowValues[];
  done: Promise<number>;
  resolve: (stored: number) => void;
  reject: (err: Error) => void;
}

// The thread's code is a CommonJS script (eval), so it runs the same from `src/` under a test runner and
// from `dist/`. It drains every queued batch with receiveMessageOnPort and commits them in one
// transaction (one WAL append for all of them); if that fails, each batch is retried alone so one bad
// batch cannot fail the others. It answers (one message for all the batches it drained) only after the
// commit has returned.
const WORKER_SOURCE = `
'use strict';
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const o = workerData.options;
const port = workerData.port;
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
const failure = (err) => ({ code: err && typeof err.code === 'string' ? err.code : undefined, message: err && err.message ? err.message : String(err) });
let closing = false;
port.on('message', (first) => {
  if (closing) return;
  const batches = [];
  for (let m = first; m; m = receiveMessageOnPort(port)?.message) {
    if (m.close) closing = true;
    else batches.push(m);
  }
  if (batches.length > 0) {
    let stored;
    try {
      stored = commit.immediate(batches);
    } catch {
      stored = undefined;
    }
    port.postMessage(batches.map((b, i) => {
      if (stored) return { id: b.id, stored: stored[i] };
      try {
        return { id: b.id, stored: commit.immediate([b])[0] };
      } catch (err) {
        return { id: b.id, error: failure(err) };
      }
    }));
  }
  if (closing) {
    clearInterval(timer);
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
    db.close();
    port.close();
  }
});
const timer = setInterval(() => {
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
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private queuedRows = 0;
  private stopped = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: SqliteWriterThreadOptions,
    private readonly fallback: (rows: UsageRowValues[]) => number,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, options, port: port2 }, transferList: [port2] });
    port1.on('message', (replies: Reply[]) => {
      for (const reply of replies) this.onReply(reply);
    });
    this.worker.on('error', (err) => this.onStopped(err));
    this.worker.on('exit', (code) => this.onStopped(new Error(`it exited with code ${code}`)));
    this.idle();
  }

  /** Rows handed to the thread and not yet committed. */
  get pending(): number {
    return this.queuedRows;
  }

  /**
   * Commits `rows` in the thread; resolves with how many were new once the commit has returned. Rejects
   * with the SQLite error (its `code` kept) when the commit fails.
   */
  write(rows: UsageRowValues[]): Promise<number> {
    if (this.stopped || this.closing) return Promise.resolve().then(() => this.fallback(rows));
    if (this.jobs.size === 0) {
      this.worker.ref();
      this.port.ref();
    }
    const id = this.nextId++;
    let resolve!: (stored: number) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.jobs.set(id, { rows, done, resolve, reject });
    this.queuedRows += rows.length;
    this.port.postMessage({ id, rows });
    return done;
  }

  /** Waits until every batch handed over so far is answered (committed or failed). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.jobs.values()].map((job) => job.done));
  }

  /** Commits what is queued, checkpoints, closes the thread's connection and ends the thread. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Batches handed over before close are answered by the thread; later ones go to `fallback`.
      await this.flush();
      if (!this.stopped) {
        const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
        this.worker.ref();
        this.port.postMessage({ close: true });
        await exited;
      }
      this.port.close();
    })();
    return this.closing;
  }

  private onReply(reply: Reply): void {
    const job = this.jobs.get(reply.id);
    if (!job) return;
    this.jobs.delete(reply.id);
    this.queuedRows -= job.rows.length;
    if ('error' in reply) job.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    else job.resolve(reply.stored);
    if (this.jobs.size === 0) this.idle();
  }

  /**
   * The thread ended (closed, or died): every unanswered batch is written through `fallback` instead.
   * A death is reported as a process warning (code `TOKENWARDEN_SQLITE_WRITER`), since writes go on.
   */
  private onStopped(reason: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.closing) {
      process.emitWarning(
        `the SQLite writer thread for ${this.options.path} stopped (${reason.message}); usage events are now committed on the calling thread`,
        { code: 'TOKENWARDEN_SQLITE_WRITER' },
      );
    }
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    this.queuedRows = 0;
    for (const job of jobs) {
      try {
        job.resolve(this.fallback(job.rows));
      } catch (err) {
        job.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** With nothing in flight, the thread does not keep the process alive. */
  private idle(): void {
    this.worker.unref();
    this.port.unref();
  }
}
