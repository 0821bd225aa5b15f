import {
  BudgetExhaustedError,
  PolicyExhaustedError,
  ProviderError,
  RateLimitedError,
  TokenwardenError,
  UnpricedModelError,
} from '../core/errors.js';

/** What telemetry reads from an error a call ended with. */
export interface ErrorFacts {
  /**
   * `error.type`: the error's stable `code` (`BUDGET_EXHAUSTED`, `POLICY_BUDGET_EXHAUSTED`, `RATE_LIMITED`,
   * `UNPRICED_MODEL`, `PROVIDER_ERROR`/`UPSTREAM_...`, `ALL_BACKENDS_FAILED`, `TIMEOUT`, `ABORTED`, ...) for
   * tokenwarden's errors, the error's class name for others, `_OTHER` when it has none.
   */
  errorType: string;
  /** True when a budget, a policy or a rate limit refused the call before any provider was called. */
  refusal: boolean;
  /** Tokens left in the thread budget at a thread refusal. */
  remainingTokens?: number;
  policy?: { name: string; scope?: string; limit?: string };
  /** The upstream's HTTP status, for a provider error that had one. */
  httpStatus?: number;
}

/** Reads the telemetry facts of an error (any thrown value). */
export function errorFacts(err: unknown): ErrorFacts {
  if (err instanceof BudgetExhaustedError) {
    return { errorType: err.code, refusal: true, remainingTokens: Math.max(0, err.maxTokens - err.used - err.reserved) };
  }
  if (err instanceof PolicyExhaustedError || err instanceof RateLimitedError) {
    return { errorType: err.code, refusal: true, policy: { name: err.policy, scope: err.scope, limit: err.limit } };
  }
  if (err instanceof UnpricedModelError) return { errorType: err.code, refusal: true, policy: { name: err.policy } };
  if (err instanceof ProviderError) {
    const facts: ErrorFacts = { errorType: err.code, refusal: false };
    if (typeof err.status === 'number') facts.httpStatus = err.status;
    return facts;
  }
  if (err instanceof TokenwardenError) return { errorType: err.code, refusal: false };
  if (err instanceof Error && err.name && err.name !== 'Error') return { errorType: err.name, refusal: false };
  return { errorType: '_OTHER', refusal: false };
}
