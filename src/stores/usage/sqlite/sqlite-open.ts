import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { unwritableReason } from '../shared/file-health.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { translateSqliteError } from './sqlite-errors.js';
import { errorCode } from '../../../core/error-fields.js';

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
      const code = errorCode(err);
      if (code === undefined || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw err;
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
