import { ValidationError } from '../../../core/errors.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { errorCode, errorMessage } from '../../../core/error-fields.js';

/** SQLSTATE classes 22 (data exception) and 23 (integrity): retrying the same rows cannot succeed. */
export function isDataError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /^2[23][0-9A-Z]{3}$/.test(code);
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Maps connection, authentication and missing-database errors to `STORE_UNAVAILABLE`. */
export function translatePgError(err: unknown, target: string): unknown {
  if (err instanceof UsageStoreError || err instanceof ValidationError) return err;
  const code = errorCode(err);
  const message = errorMessage(err);
  if (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '28P01' || code === '28000' || code === '3D000')) {
    return new UsageStoreError('STORE_UNAVAILABLE', target, `cannot reach ${target}: ${message || code}`, { cause: err });
  }
  if (err instanceof AggregateError && err.errors.length > 0) {
    return translatePgError(err.errors[0], target);
  }
  return err;
}

/** The message of an error, or the value as a string. */
export function messageOf(err: unknown): string {
  return (err as Error | null)?.message ?? String(err);
}
