import {
  AllBackendsFailedError,
  BudgetExhaustedError,
  CallAbortedError,
  LedgerUnavailableError,
  NoBackendError,
  PolicyExhaustedError,
  ProviderError,
  RateLimitedError,
  ThreadLimitError,
  TokenwardenError,
  UnpricedModelError,
  ValidationError,
} from '../core/errors.js';
import { resetText } from './budget-headers.js';

/** OpenAI's error `type` values used by the gateway (plus `budget_exhausted`). */
export type HttpErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'budget_exhausted'
  | 'rate_limit_error'
  | 'server_error';

/**
 * An error answered to the HTTP client: status, OpenAI-shaped body
 * `{ error: { message, type, code, param } }` and optional extra headers. Errors from the layers below
 * become one of these only here, at the edge ({@link toHttpError}).
 *
 * @example
 * ```ts
 * throw new HttpError(404, 'not_found_error', 'thread_not_found', 'Thread "t1" has no budget');
 * ```
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: HttpErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    /** Fields the error object carries after `param` (a policy refusal's `policy`, `entity`, amounts...). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  /** The JSON body. */
  body(): { error: { message: string; type: string; code: string; param: string | null; [field: string]: unknown } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param, ...this.details } };
  }
}

/** 400 naming the field. */
export function badRequest(param: string | null, message: string, code = 'invalid_value'): HttpError {
  return new HttpError(400, 'invalid_request_error', code, message, param);
}

/** Context used to phrase mapped errors for the client. */
export interface ErrorContext {
  /** Maps an internal (org-namespaced) thread id back to the id the client sent. */
  publicThreadId?: (internalId: string) => string;
}

/**
 * Maps any error thrown while serving a request to the {@link HttpError} sent to the client:
 * budget refusal → 429 (a policy's: `<scope>_budget_exhausted`, or `rate_limit_exceeded` with
 * `Retry-After`), a model without a price under a USD policy → 400 `model_not_priced`, validation → 400, unknown model → 404, ledger down → 503, provider failures →
 * 502 (upstream error), 503 (upstream rate limit) or 504 (timeout); anything unexpected → 500.
 */
export function toHttpError(err: unknown, ctx: ErrorContext = {}): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof BudgetExhaustedError) {
    const threadId = ctx.publicThreadId ? ctx.publicThreadId(err.threadId) : err.threadId;
    const shown = new BudgetExhaustedError({
      threadId,
      used: err.used,
      maxTokens: err.maxTokens,
      requested: err.requested,
      reserved: err.reserved,
    });
    return new HttpError(429, 'budget_exhausted', 'thread_budget_exhausted', shown.message, null, {
      // The official OpenAI SDKs honour this and do not retry: waiting will not refill the budget.
      'x-should-retry': 'false',
    });
  }
  if (err instanceof PolicyExhaustedError || err instanceof RateLimitedError) return policyRefusal(err, ctx);
  if (err instanceof UnpricedModelError) return unpricedModel(err);
  if (err instanceof ValidationError) return badRequest(err.field, err.message);
  if (err instanceof NoBackendError) {
    return new HttpError(404, 'not_found_error', 'model_not_found', err.message, 'model');
  }
  if (err instanceof LedgerUnavailableError) {
    return new HttpError(503, 'server_error', 'ledger_unavailable', `Budget ledger unavailable: ${err.message}`, null, {
      'retry-after': '1',
    });
  }
  if (err instanceof CallAbortedError) {
    return err.reason === 'timeout'
      ? new HttpError(504, 'server_error', 'provider_timeout', err.message)
      : new HttpError(499, 'invalid_request_error', 'client_closed_request', err.message);
  }
  if (err instanceof AllBackendsFailedError) {
    const last = err.errors[err.errors.length - 1];
    const mapped = last ? toHttpError(last, ctx) : undefined;
    if (mapped && mapped.status !== 500) {
      return new HttpError(mapped.status, mapped.type, mapped.code, err.message, mapped.param, mapped.headers, mapped.details);
    }
    return new HttpError(502, 'server_error', 'provider_error', err.message);
  }
  if (err instanceof ProviderError) return providerHttpError(err);
  if (err instanceof ThreadLimitError) {
    // The ledger's message names internal ids (`org/thread`, the org as its group): rephrased here.
    const threadId = JSON.stringify(ctx.publicThreadId ? ctx.publicThreadId(err.threadId) : err.threadId);
    if (err.scope === 'group') {
      return new HttpError(429, 'rate_limit_error', 'too_many_threads', `Cannot open thread ${threadId}: this org already has ${err.limit} live threads (budgets.max_threads_per_org); end threads with DELETE /v1/threads/{id} or let idle ones expire`, null, { 'x-should-retry': 'false' });
    }
    return new HttpError(503, 'server_error', 'too_many_threads', `Cannot open thread ${threadId}: the gateway holds its maximum of ${err.limit} live threads (budgets.max_threads)`, null, { 'retry-after': '60' });
  }
  if (err instanceof TokenwardenError && err.code === 'TOO_MANY_BUDGET_ENTITIES') {
    // The policy ledger is full (a flood of new users or keys): the gateway's capacity, not the caller's fault.
    return new HttpError(503, 'server_error', 'too_many_budget_entities', err.message, null, { 'retry-after': '60' });
  }
  return new HttpError(500, 'server_error', 'internal_error', 'Internal error in the tokenwarden gateway (see its log)');
}

/**
 * A policy refusal: 429 with the policy's fields beside `message`, `type`, `code`, `param` (amounts in the
 * limit's unit, `resets_at` ISO 8601 or `null` for a lifetime budget). A budget: type `budget_exhausted`
 * (as a thread's), code `<scope>_budget_exhausted`, `x-should-retry: false` (an SDK retrying in a second
 * would be refused again). A rate limit: type `rate_limit_error`, code `rate_limit_exceeded`, and when to
 * retry: `Retry-After` (whole seconds, rounded up, at least 1), `retry-after-ms` and the OpenAI
 * `x-ratelimit-*` headers of the limit that refused.
 */
function policyRefusal(err: PolicyExhaustedError | RateLimitedError, ctx: ErrorContext): HttpError {
  const entity = err.scope === 'thread' && ctx.publicThreadId ? ctx.publicThreadId(err.entity) : err.entity;
  const fields = { policy: err.policy, scope: err.scope, entity, limit: err.limit, max: err.max, used: err.used, reserved: err.reserved, requested: err.requested, resetsAt: err.resetsAt };
  const { resetsAt, ...named } = fields;
  const details = { ...named, resets_at: resetsAt === null ? null : new Date(resetsAt).toISOString() };
  if (err instanceof PolicyExhaustedError) {
    // Rebuilt so that the message names the entity as the client knows it (a thread without its org).
    const shown = entity === err.entity ? err : new PolicyExhaustedError(fields);
    return new HttpError(429, 'budget_exhausted', `${err.scope}_budget_exhausted`, shown.message, null, { 'x-should-retry': 'false' }, details);
  }
  const shown = entity === err.entity ? err : new RateLimitedError({ ...fields, resetsAt: err.resetsAt, now: err.resetsAt - err.retryAfterMs });
  if (err.requested > err.max) {
    // This request alone is above the per-minute limit: no wait makes it pass, so no Retry-After (SDKs
    // would retry forever); the client must send less (a smaller max_tokens or prompt).
    const message = `${shown.message}. The request alone is above the limit: send a smaller request (max_tokens, prompt)`;
    return new HttpError(429, 'rate_limit_error', 'rate_limit_exceeded', message, null, { 'x-should-retry': 'false' }, { ...details, request_too_large: true });
  }
  const kind = err.limit === 'tokens' ? 'tokens' : 'requests';
  const headers: Record<string, string> = {
    'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))),
    'retry-after-ms': String(Math.max(1, Math.ceil(err.retryAfterMs))),
    [`x-ratelimit-limit-${kind}`]: String(err.max),
    [`x-ratelimit-remaining-${kind}`]: String(Math.max(0, err.max - err.used - err.reserved)),
    [`x-ratelimit-reset-${kind}`]: resetText(err.retryAfterMs),
  };
  return new HttpError(429, 'rate_limit_error', 'rate_limit_exceeded', shown.message, null, headers, details);
}

/** A model without a price under a USD policy: the client's request cannot be budgeted (400, naming the model and the policy). */
function unpricedModel(err: UnpricedModelError): HttpError {
  return new HttpError(400, 'invalid_request_error', 'model_not_priced', err.message, 'model', {}, { policy: err.policy, model: err.model });
}

function providerHttpError(err: ProviderError): HttpError {
  const where = `provider ${err.provider} (backend ${err.backend})`;
  if (err.code === 'TIMEOUT' || /timed? ?out/i.test(err.code)) {
    return new HttpError(504, 'server_error', 'provider_timeout', `${where} timed out: ${err.message}`);
  }
  const status = err.status;
  if (status === 429) {
    const headers: Record<string, string> = {};
    if (err.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    return new HttpError(503, 'server_error', 'provider_rate_limited', `${where} is rate limiting: ${err.message}`, null, headers);
  }
  if (status === 400 || status === 404 || status === 413 || status === 422) {
    // The provider rejected what the client asked for: the client's mistake, said as such.
    return new HttpError(status === 413 ? 400 : status, 'invalid_request_error', 'upstream_rejected_request', `${where} rejected the request: ${err.message}`);
  }
  if (status === 401 || status === 403) {
    return new HttpError(502, 'server_error', 'provider_auth_failed', `${where} refused the gateway's credentials: ${err.message}`);
  }
  if (status === 503) return new HttpError(503, 'server_error', 'provider_unavailable', `${where} is unavailable: ${err.message}`);
  return new HttpError(502, 'server_error', 'provider_error', `${where} failed: ${err.message}`);
}
