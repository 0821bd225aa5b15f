import { ValidationError } from '../../../core/errors.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { errorCode, errorMessage } from '../../../core/error-fields.js';

/** Maps a better-sqlite3 / fs error to a {@link UsageStoreError} with a message naming the file. */
export function translateSqliteError(err: unknown, path: string): unknown {
  if (err instanceof UsageStoreError || err instanceof ValidationError) return err;
  const code = errorCode(err);
  const detail = errorMessage(err);
  if (code === undefined) return err;
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
