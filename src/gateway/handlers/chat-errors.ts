import type { ServerResponse } from 'node:http';
import { BudgetExhaustedError } from '../../core/errors.js';
import { HttpError } from '../http-error.js';
import { errorCode } from '../../core/error-fields.js';

/** The 503 of a call that completed but whose usage event could not be stored (so it is not acknowledged). */
export function storeFailed(err: unknown): HttpError {
  return new HttpError(
    503,
    'server_error',
    'usage_store_unavailable',
    // The store's own message may name files or another tenant's values: it goes to the gateway's log.
    `The call completed but its usage could not be stored, so it is not acknowledged (${storeErrorCode(err)}); the gateway's log has the details`,
  );
}

function storeErrorCode(err: unknown): string {
  const code = errorCode(err);
  return code !== undefined && /^[A-Z_]{1,40}$/.test(code) ? code : 'STORE_ERROR';
}

/** Budget headers of a 429 budget refusal (limit, used, remaining). */
export function budgetHeadersFromRefusal(res: ServerResponse, err: unknown): void {
  if (!(err instanceof BudgetExhaustedError) || res.headersSent) return;
  res.setHeader('x-budget-limit', String(err.maxTokens));
  res.setHeader('x-budget-used', String(err.used));
  res.setHeader('x-budget-remaining', String(Math.max(0, err.maxTokens - err.used - err.reserved)));
}
