import { closeSync, openSync, statSync } from 'node:fs';
import { errorCode } from '../../../core/error-fields.js';

/**
 * Cheap checks that a store's file is still the one it opened and can still be written. A store
 * runs them on a short timer and after a failed write, never per insert: a `stat` per event would cost
 * more than the insert itself.
 */

/** Which file a path named when the store opened it. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The identity of the file at `path` now, or undefined when nothing is there. */
export function identityOf(path: string): FileIdentity | undefined {
  try {
    const s = statSync(path);
    return { dev: s.dev, ino: s.ino };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * How the file at `path` differs from the one opened: `'was deleted'`, `'was replaced by another
 * file'`, or undefined when it is the same file. (Writes to a deleted or replaced file go to an
 * inode nobody will read again: every event written after that is lost at the next restart.)
 */
export function fileChange(path: string, opened: FileIdentity): string | undefined {
  let now: FileIdentity | undefined;
  try {
    now = identityOf(path);
  } catch (err) {
    return `cannot be checked (${(err as Error).message})`;
  }
  if (!now) return 'was deleted';
  if (now.dev !== opened.dev || now.ino !== opened.ino) return 'was replaced by another file';
  return undefined;
}

/**
 * Why the existing file at `path` cannot be opened for writing (immutable, read-only file system,
 * permissions), or undefined when it can or does not exist.
 */
export function unwritableReason(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    return `${path} cannot be opened for writing (${code ?? (err as Error).message})`;
  }
  closeSync(fd);
  return undefined;
}

const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EPERM', 'EACCES', 'EFBIG', 'ENOENT', 'ESTALE']);

/**
 * Whether `err` (a SQLite or file-system error, possibly wrapped in a store error's `cause`) means the
 * storage itself is failing: full, read-only, gone or broken. Such a failure affects every later
 * write, unlike an error about one event.
 */
export function isStorageFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = errorCode(e);
    if (code === undefined) continue;
    if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') ||
      code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || STORAGE_CODES.has(code)) {
      return true;
    }
  }
  return false;
}
