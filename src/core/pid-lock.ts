import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { errorMessage } from './error-fields.js';

/** Files locked by this process (a second owner in one process is refused as well). */
const heldInThisProcess = new Set<string>();

/** How a {@link PidLock} reports that it cannot be taken; each owner speaks its own error codes. */
export interface PidLockErrors {
  /** Another owner holds it: `detail` says who (this process, or a live pid). */
  locked(detail: string): Error;
  /** The lock file cannot be created (permissions, a full disk). */
  io(message: string, cause: unknown): Error;
}

/**
 * An owner lock on a file: `<path>.lock` holds the owning process's pid, so one process at a time owns
 * the file (the PostgreSQL store's spool, an alert outbox). A lock left by a process that is gone (or by
 * an earlier life of this pid, as in a restarted container) is taken over.
 *
 * @example
 * ```ts
 * const lock = new PidLock('/var/lib/tw/spool.jsonl', { locked: (d) => new Error(d), io: (m) => new Error(m) });
 * lock.take(); // throws while a live process holds it
 * lock.release();
 * ```
 */
export class PidLock {
  readonly lockPath: string;
  private held = false;

  /** @param path the owned file (absolute) */
  constructor(
    readonly path: string,
    private readonly errors: PidLockErrors,
  ) {
    this.lockPath = `${path}.lock`;
  }

  /** Takes the lock; throws `errors.locked` while another owner (in this process or a live one) holds it. */
  take(): void {
    if (heldInThisProcess.has(this.path)) throw this.errors.locked(`${this.path} is already open in this process`);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        heldInThisProcess.add(this.path);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw this.errors.io(`cannot create the lock ${this.lockPath}: ${errorMessage(err)}`, err);
        }
      }
      const owner = readOwner(this.lockPath);
      if (owner !== undefined && owner !== process.pid && processAlive(owner)) {
        throw this.errors.locked(`${this.path} is in use by process ${owner}`);
      }
      try {
        unlinkSync(this.lockPath); // left by a process that is gone
      } catch {
        // Another process removed it first; try again.
      }
    }
    throw this.errors.locked(`could not take the lock ${this.lockPath}`);
  }

  /** Releases the lock if this owner holds it. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    heldInThisProcess.delete(this.path);
    try {
      if (readOwner(this.lockPath) === process.pid) unlinkSync(this.lockPath);
    } catch {
      // Already gone.
    }
  }
}

function readOwner(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
