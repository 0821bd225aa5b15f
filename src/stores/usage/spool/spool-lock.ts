import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { UsageStoreError } from '../../../usage/store-error.js';
import { errorMessage } from '../../../core/error-fields.js';

const openInThisProcess = new Set<string>();

/**
 * The owner lock of an {@link EventSpool}: `<path>.lock` holds the owning process's pid, so one process
 * writes a spool at a time; a lock left by a process that is gone is taken over.
 */
export class SpoolLock {
  private readonly lockPath: string;

  /** @param path the spool file (absolute) */
  constructor(private readonly path: string) {
    this.lockPath = `${path}.lock`;
  }

  /** Takes the lock (a dead owner's is taken over); throws `SPOOL_LOCKED` while a live process holds it. */
  take(): void {
    if (openInThisProcess.has(this.path)) {
      throw new UsageStoreError('SPOOL_LOCKED', this.path, `spool ${this.path} is already open in this process; give each store its own spoolPath`);
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        openInThisProcess.add(this.path);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new UsageStoreError('SPOOL_IO', this.path, `cannot create spool lock ${this.lockPath}: ${errorMessage(err)}`, { cause: err });
        }
      }
      const owner = readOwner(this.lockPath);
      if (owner !== undefined && owner !== process.pid && processAlive(owner)) {
        throw new UsageStoreError(
          'SPOOL_LOCKED',
          this.path,
          `spool ${this.path} is in use by process ${owner}; give each process its own spoolPath`,
        );
      }
      try {
        unlinkSync(this.lockPath); // left by a process that is gone
      } catch {
        // Another process removed it first; try again.
      }
    }
    throw new UsageStoreError('SPOOL_LOCKED', this.path, `could not take the spool lock ${this.lockPath}`);
  }

  /** Releases the lock if this process holds it. */
  release(): void {
    openInThisProcess.delete(this.path);
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

