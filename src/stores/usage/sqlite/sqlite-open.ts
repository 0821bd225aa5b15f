import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ValidationError } from '../../../core/errors.js';
import { unwritableReason } from '../shared/file-health.js';
import { UsageStoreError } from '../../../usage/store-error.js';

/**
 * Runs `fn`, retrying for up to `timeoutMs` while SQLite answers SQLITE_BUSY. The busy timeout already
 * waits for most locks, but SQLite returns BUSY at once where waiting could deadlock, e.g. two
 * processes converting a brand-new file to WAL or migrating it at the same moment.
 */
export function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, delay);
    }
  }
}

/**
 * Opens the store's connection. A writable store refuses a WAL index (`-shm`) or WAL file it cannot
 * write (made immutable or read-only): SQLite would otherwise fail later, or die with SIGBUS when the
 * WAL index grows.
 */
export function openDatabase(path: string, readonly: boolean): Database.Database {
  if (readonly && !existsSync(path)) {
    throw new UsageStoreError('STORE_NOT_FOUND', path, `database ${path} does not exist`);
  }
  if (!readonly && path !== ':memory:' && path !== '') {
    const reason = unwritableReason(`${path}-shm`) ?? unwritableReason(`${path}-wal`) ?? unwritableReason(path);
    if (reason) throw new UsageStoreError('STORE_UNREADABLE', path, `cannot write to database ${path}: ${reason}`);
  }
  try {
    if (!readonly && path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    return new Database(path, readonly ? { readonly: true, fileMustExist: true } : {});
  } catch (err) {
    throw translateSqliteError(err, path);
  }
}

/** Maps a better-sqlite3 / fs error to a {@link UsageStoreError} with a message naming the file. */
export function translateSqliteError(err: unknown, path: string): unknown {
  if (err instanceof UsageStoreError || err instanceof ValidationError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  if (typeof code !== 'string') return err;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new UsageStoreError('STORE_LOCKED', path, `database ${path} is locked by another connection (${detail})`, { cause: err });
  }
  if (code === 'ENOENT') {
    return new UsageStoreError('STORE_NOT_FOUND', path, `database ${path} does not exist (${detail})`, { cause: err });
  }
  if (code === 'SQLITE_FULL') {
    return new UsageStoreError('STORE_UNAVAILABLE', path, `database ${path} is full (${detail})`, { cause: err });
  }
  if (code === 'SQLITE_CANTOPEN') {
    return new UsageStoreError('STORE_UNREADABLE', path, `database ${path} cannot be opened (${detail})`, { cause: err });
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_PERM' ||
    code === 'SQLITE_READONLY' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') {
    return new UsageStoreError('STORE_UNREADABLE', path, `cannot use database ${path}: ${detail}`, { cause: err });
  }
  return err;
}
