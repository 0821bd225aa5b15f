import { SqliteWorker } from './sqlite-worker.js';

/** What the reader thread needs to open its own read-only connection. */
export interface SqliteReaderThreadOptions {
  path: string;
  busyTimeoutMs: number;
}

/** One read: SQL, its parameters, and whether integers come back as BigInt (exact sums). */
export interface ReadRequest {
  sql: string;
  params: unknown[];
  safeIntegers: boolean;
}

// Prepared statements are cached per SQL text (the store builds a few shapes); answers go back one per
// request, rows as plain objects (BigInt survives the structured clone).
const READER_SOURCE = `
const db = new Database(o.path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = ' + o.busyTimeoutMs);
const statements = new Map();
port.on('message', (m) => {
  if (m.close) {
    if (shmOk()) db.close();
    port.close();
    return;
  }
  if (!shmOk()) {
    port.postMessage([{ id: m.id, error: SHM_BROKEN }]);
    return;
  }
  try {
    const key = (m.safeIntegers ? 'B:' : '') + m.sql;
    let stmt = statements.get(key);
    if (!stmt) {
      stmt = db.prepare(m.sql);
      if (m.safeIntegers) stmt.safeIntegers(true);
      if (statements.size >= 256) statements.clear();
      statements.set(key, stmt);
    }
    port.postMessage([{ id: m.id, value: stmt.all(...m.params) }]);
  } catch (err) {
    port.postMessage([{ id: m.id, error: failure(err) }]);
  }
});
`;

/**
 * The SQLite store's reader thread: queries, counts, summaries and daily series run on a worker thread
 * with its own read-only connection, so a summary over millions of events never stalls the caller's
 * event loop (WAL mode lets it read while the store writes). Started on the first read; if it dies,
 * `fallback` runs the reads on the caller's connection instead.
 */
export class SqliteReaderThread {
  private thread: SqliteWorker<unknown[]> | undefined;

  constructor(
    private readonly options: SqliteReaderThreadOptions,
    private readonly fallback: (request: ReadRequest) => unknown[],
  ) {}

  /** Runs `request` in the thread; resolves with its rows. Rejects with the SQLite error (code kept). */
  read(request: ReadRequest): Promise<unknown[]> {
    if (this.thread?.stopped) return Promise.resolve().then(() => this.fallback(request));
    this.thread ??= new SqliteWorker<unknown[]>(READER_SOURCE, this.options, (reason, jobs, closing) => {
      if (!closing) {
        process.emitWarning(
          `the SQLite reader thread for ${this.options.path} stopped (${reason.message}); usage queries now run on the calling thread`,
          { code: 'TOKENWARDEN_SQLITE_READER' },
        );
      }
      for (const job of jobs) {
        try {
          job.resolve(this.fallback(job.message as unknown as ReadRequest));
        } catch (err) {
          job.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    });
    return this.thread.request({ ...request });
  }

  /** Ends the thread after the reads in progress. Idempotent. */
  async close(): Promise<void> {
    await this.thread?.close();
  }
}
