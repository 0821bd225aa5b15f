import { TokenwardenError } from '../../core/errors.js';
import { redactUrl, redactUrlsIn } from '../../core/redact-url.js';
import type { UsageStoreError } from '../../usage/store-error.js';
import type { ReportArgs } from './types.js';
import { errorMessage } from '../../core/error-fields.js';

/**
 * Why the store could not be read, with the hint that helps (`--db`, `--lock-timeout`) and never a
 * database password.
 */
export function describeReportFailure(err: unknown, args: ReportArgs): string {
  if (err instanceof TokenwardenError) {
    const e = err as UsageStoreError;
    switch (e.code) {
      case 'STORE_NOT_FOUND':
        return `${e.message}; point --db at your usage database (or set TOKENWARDEN_DB)`;
      case 'STORE_LOCKED':
        return `${e.message}; waited ${args.lockTimeoutMs} ms (raise --lock-timeout or retry later)`;
      case 'STORE_UNAVAILABLE':
        return `${redactUrlsIn(e.message)} (${redactUrl(args.databaseUrl ?? '')})`;
      default:
        return redactUrlsIn(e.message);
    }
  }
  const message = errorMessage(err);
  return args.databaseUrl !== undefined ? `${redactUrlsIn(message)} (${redactUrl(args.databaseUrl)})` : message;
}
