import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { TokenwardenError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';

const heldInThisProcess = new Set<string>();

/**
 * The owner lock of an alert outbox: `<path>.lock` holds the owning process's pid. Two senders on one
 * outbox would deliver everything twice, and one's compaction (a rename) would make the other append to
 * a file no longer there, so a second owner is refused; a lock left by a process that is gone (or by an
 * earlier life of this pid, as in a restarted container) is taken over.
 */
export class OutboxLock {
  private readonly lockPath: string;
  private held = false;

  /** @param path the outbox file (absolute) */
  constructor(private readonly path: string) {
    this.lockPath = `${path}.lock`;
  }

  /** Takes the lock; throws `ALERT_OUTBOX_LOCKED` while another sender (in this process or a live one) holds it. */
  take(): void {
    if (heldInThisProcess.has(this.path)) throw locked(`alert outbox ${this.path} is already open in this process`);
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
          throw new TokenwardenError('ALERT_OUTBOX_IO', `cannot create the alert outbox lock ${this.lockPath}: ${errorMessage(err)}`, { cause: err });
        }
      }
      const owner = readOwner(this.lockPath);
      if (owner !== undefined && owner !== process.pid && processAlive(owner)) {
        throw locked(`alert outbox ${this.path} is in use by process ${owner}`);
      }
      try {
        unlinkSync(this.lockPath);
      } catch {
        // Another process removed it first; try again.
      }
    }
    throw locked(`could not take the alert outbox lock ${this.lockPath}`);
  }

  /** Releases the lock if this sender holds it. */
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

function locked(message: string): TokenwardenError {
  return new TokenwardenError('ALERT_OUTBOX_LOCKED', `${message}; give each sender (each gateway instance) its own outboxPath`);
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
