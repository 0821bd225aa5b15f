import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';

/** A failure as a thread reports it: the SQLite error's code and message. */
export interface WorkerFailure {
  code?: string;
  message: string;
}

/** One answer from a thread: a value, or the error it hit. */
export type WorkerReply<T> = { id: number; value: T } | { id: number; error: WorkerFailure };

/** A request handed to the thread and not answered yet. */
export interface WorkerJob<T> {
  message: Record<string, unknown>;
  /** How much work it stands for (rows), for {@link SqliteWorker.pending}. */
  weight: number;
  done: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/**
 * Code every SQLite thread starts with: the driver, the options, the port, and `failure(err)` to report
 * an error with its SQLite code. The thread's own code follows; it answers with
 * `port.postMessage([{ id, value } | { id, error }, ...])` and stops on a `{ close: true }` message.
 */
export const WORKER_PRELUDE = `
'use strict';
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const o = workerData.options;
const port = workerData.port;
const failure = (err) => ({ code: err && typeof err.code === 'string' ? err.code : undefined, message: err && err.message ? err.message : String(err) });
// Once the WAL index cannot be written (made immutable or read-only), any use of the connection may
// die with SIGBUS (SQLite writes to its shared mapping): check before each use, then never touch it again.
const fs = require('node:fs');
let shmBroken = false;
const shmOk = () => {
  if (shmBroken) return false;
  try { fs.closeSync(fs.openSync(o.path + '-shm', 'r+')); return true; }
  catch (err) { if (err.code === 'ENOENT') return true; shmBroken = true; return false; }
};
const SHM_BROKEN = { code: 'SQLITE_READONLY_SHM', message: 'the WAL index ' + o.path + '-shm cannot be written; the connection is no longer used' };
`;

/**
 * A worker thread with its own better-sqlite3 connection, talking over a MessagePort: requests carry an
 * id, answers settle the matching promise. Shared by the store's writer and reader threads.
 *
 * - Its code is a CommonJS script (eval), so it runs the same from `src/` under a test runner and from
 *   `dist/`.
 * - With nothing in flight the thread is unref'd: it never keeps the process alive by itself.
 * - If the thread stops (closed, or died), `onStopped` gets every unanswered job to settle another way.
 */
export class SqliteWorker<T> {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly jobs = new Map<number, WorkerJob<T>>();
  private nextId = 1;
  private weight = 0;
  private stoppedFlag = false;
  private closing: Promise<void> | undefined;

  constructor(
    source: string,
    options: object,
    private readonly onStopped: (reason: Error, unanswered: WorkerJob<T>[], closing: boolean) => void,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_PRELUDE + source, { eval: true, workerData: { driver, options, port: port2 }, transferList: [port2] });
    port1.on('message', (replies: Array<WorkerReply<T>>) => {
      for (const reply of replies) this.onReply(reply);
    });
    this.worker.on('error', (err) => this.stop(err));
    this.worker.on('exit', (code) => this.stop(new Error(`it exited with code ${code}`)));
    this.idle();
  }

  /** Whether the thread has stopped (closed or died); requests then go elsewhere. */
  get stopped(): boolean {
    return this.stoppedFlag || this.closing !== undefined;
  }

  /** Total weight of the requests not answered yet. */
  get pending(): number {
    return this.weight;
  }

  /** Sends `message` (plus an `id`) to the thread; settles with its answer. */
  request(message: Record<string, unknown>, weight = 0): Promise<T> {
    if (this.jobs.size === 0) {
      this.worker.ref();
      this.port.ref();
    }
    const id = this.nextId++;
    let resolve!: (value: T) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.jobs.set(id, { message, weight, done, resolve, reject });
    this.weight += weight;
    this.port.postMessage({ ...message, id });
    return done;
  }

  /** Waits until every request sent so far is answered. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.jobs.values()].map((job) => job.done));
  }

  /** Lets the thread answer what it was given, then stops it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      if (!this.stoppedFlag) {
        const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
        this.worker.ref();
        this.port.postMessage({ close: true });
        await exited;
      }
      this.port.close();
    })();
    return this.closing;
  }

  private onReply(reply: WorkerReply<T>): void {
    const job = this.jobs.get(reply.id);
    if (!job) return;
    this.jobs.delete(reply.id);
    this.weight -= job.weight;
    if ('error' in reply) job.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    else job.resolve(reply.value);
    if (this.jobs.size === 0) this.idle();
  }

  private stop(reason: Error): void {
    if (this.stoppedFlag) return;
    this.stoppedFlag = true;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    this.weight = 0;
    this.onStopped(reason, jobs, this.closing !== undefined);
  }

  private idle(): void {
    this.worker.unref();
    this.port.unref();
  }
}
