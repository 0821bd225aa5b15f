import type { Readiness } from '../../../core/types.js';
import { fileChange, identityOf, isStorageFailure, unwritableReason, type FileIdentity } from '../shared/file-health.js';
import { errorCode, errorMessage } from '../../../core/error-fields.js';

/**
 * How often the database file is checked: a `stat` and an `open` of the -shm, about 10 µs, so ten times a
 * second costs nothing measurable, while every event acknowledged between a deletion and its detection
 * is lost (about 500 calls per second of window at a few thousand calls per second).
 */
export const HEALTH_INTERVAL_MS = 100;
/** Least time between two probe writes while the storage fails. */
const PROBE_INTERVAL_MS = 1000;

/**
 * Whether a SQLite store can still keep what it is given, for {@link SqliteUsageStore.readiness} and
 * to refuse appends it could not keep:
 * - the database file was deleted or replaced since it was opened (compared by device and inode on a
 *   100 ms timer: never a `stat` per insert). Permanent: a restart opens the new file.
 * - its `-shm` file cannot be written (made immutable or read-only): SQLite would die with SIGBUS when
 *   the WAL index next grows, so writes stop before that.
 * - a write failed for a storage reason (SQLITE_FULL, SQLITE_IOERR, read-only, ...). It stays not ready
 *   until a probe write (64 KiB through the WAL, then removed) succeeds.
 */
export class SqliteHealth {
  private readonly opened: FileIdentity | undefined;
  private writeFailure: string | undefined;
  private problem: string | undefined;
  private shmBroken = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastProbe = 0;

  /**
   * @param path the database file (`:memory:` and `''` are always healthy)
   * @param probe one small real write; throws when the storage still fails
   */
  constructor(
    private readonly path: string,
    private readonly probe: () => void,
  ) {
    this.opened = path === ':memory:' || path === '' ? undefined : identityOf(path);
  }

  /** Starts the periodic check (unref'd: it never keeps the process alive). */
  start(intervalMs = HEALTH_INTERVAL_MS): void {
    if (!this.opened || this.timer) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Whether the connection must not be used at all: its WAL index (`-shm`) cannot be written, and any
   * read, write, checkpoint or close may then die with SIGBUS. Sticky.
   */
  get untouchable(): boolean {
    return this.shmBroken;
  }

  /** Why the store cannot keep events now (as of the last check or failed write), or undefined. */
  get notReady(): string | undefined {
    return this.problem;
  }

  /**
   * Checks now and answers: a `stat` and an `open`, plus a probe write at most once a second while
   * writes fail, so it is cheap enough to call per request.
   */
  readiness(): Readiness {
    this.check();
    return this.problem === undefined ? { ready: true } : { ready: false, reason: this.problem };
  }

  /**
   * Right after a commit: why the events just committed are not kept (the database file was deleted or
   * replaced, so they went to a file nobody will read again), or undefined. One `stat` per committed
   * batch, so no event is acknowledged into a deleted file, whatever the timer's phase.
   */
  afterCommit(): string | undefined {
    if (!this.opened) return undefined;
    const change = fileChange(this.path, this.opened);
    if (change) this.problem = fileProblem(this.path, change);
    return change ? this.problem : undefined;
  }

  /** Records a failed write: a storage failure makes the store not ready until a probe write succeeds. */
  noteWriteError(err: unknown): void {
    if (!isStorageFailure(err)) return;
    const code = errorCode((err as { cause?: unknown }).cause) ?? errorCode(err);
    this.writeFailure = `writes to ${this.path} fail (${code ?? errorMessage(err)})`;
    this.problem = this.writeFailure;
    this.checkFile();
  }

  /** Re-checks the file, and probes the storage after a failed write. */
  check(): void {
    if (!this.opened) return;
    if (this.checkFile()) return;
    if (this.writeFailure !== undefined && Date.now() - this.lastProbe >= PROBE_INTERVAL_MS) {
      this.lastProbe = Date.now();
      try {
        this.probe();
        this.writeFailure = undefined;
      } catch (err) {
        this.writeFailure = `writes to ${this.path} fail (${errorCode(err) ?? errorMessage(err)})`;
      }
    }
    this.problem = this.writeFailure;
  }

  /** Sets `problem` when the file itself is gone, replaced or its -shm unwritable; returns whether it did. */
  private checkFile(): boolean {
    if (!this.opened) return false;
    const change = fileChange(this.path, this.opened);
    if (change) {
      this.problem = fileProblem(this.path, change);
      return true;
    }
    const shm = unwritableReason(`${this.path}-shm`);
    if (shm || this.shmBroken) {
      this.shmBroken = true;
      this.problem = `the WAL index ${shm ?? `${this.path}-shm cannot be written`}; using the database would crash SQLite (SIGBUS), restart once it is fixed`;
      return true;
    }
    return false;
  }
}

function fileProblem(path: string, change: string): string {
  return `database file ${path} ${change} while in use; events written now would be lost (restart to open the file at that path)`;
}
