/**
 * Errors thrown by tokenwarden. Every error extends {@link TokenwardenError} and carries a stable
 * `code` that callers (and the gateway, which maps codes to HTTP statuses) can switch on.
 *
 * @example
 * ```ts
 * try {
 *   registry.checkBudget('thread-1', 5_000);
 * } catch (err) {
 *   if (err instanceof TokenwardenError && err.code === 'BUDGET_EXHAUSTED') { ... }
 * }
 * ```
 */
export class TokenwardenError extends Error {
  /** Stable machine-readable code, e.g. `BUDGET_EXHAUSTED`, `INVALID_ARGUMENT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value passed by the caller is invalid. `field` names it; `value` is what was passed. */
export class ValidationError extends TokenwardenError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, problem: string) {
    super('INVALID_ARGUMENT', `${field}: ${problem} (got ${describeValue(value)})`);
    this.field = field;
    this.value = value;
  }
}

/** A configuration object is invalid. `path` names the offending entry, e.g. `backends[1].provider`. */
export class ConfigError extends TokenwardenError {
  readonly path: string;

  constructor(path: string, problem: string) {
    super('INVALID_CONFIG', path ? `${path}: ${problem}` : problem);
    this.path = path;
  }
}

/**
 * A thread cannot afford a call. Thrown before any provider is contacted.
 * The message always contains `budget exhausted`.
 */
export class BudgetExhaustedError extends TokenwardenError {
  readonly threadId: string;
  /** Tokens already charged to the thread. */
  readonly used: number;
  /** Tokens currently held by outstanding reservations. */
  readonly reserved: number;
  /** The thread's maximum. */
  readonly maxTokens: number;
  /** Tokens the refused call asked for. */
  readonly requested: number;

  constructor(fields: { threadId: string; used: number; maxTokens: number; requested: number; reserved?: number }) {
    const reserved = fields.reserved ?? 0;
    const remaining = Math.max(0, fields.maxTokens - fields.used - reserved);
    super(
      'BUDGET_EXHAUSTED',
      `Thread ${JSON.stringify(fields.threadId)} budget exhausted: requested ${fields.requested} tokens, ` +
        `used ${fields.used} of ${fields.maxTokens}` +
        (reserved > 0 ? `, ${reserved} reserved by calls in flight` : '') +
        `, ${remaining} remaining`,
    );
    this.threadId = fields.threadId;
    this.used = fields.used;
    this.reserved = reserved;
    this.maxTokens = fields.maxTokens;
    this.requested = fields.requested;
  }
}

/** A budget ledger's backing service (e.g. Redis) cannot be reached. */
export class LedgerUnavailableError extends TokenwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LEDGER_UNAVAILABLE', message, options);
  }
}

/**
 * A ledger cannot open one more thread: its group (e.g. a tenant) already holds `maxThreadsPerGroup` live
 * threads (`scope: 'group'`), or the ledger holds `maxThreads` (`scope: 'global'`). Code
 * `TOO_MANY_THREADS`. Threads already open are unaffected; ending threads or letting idle ones expire
 * makes room.
 */
export class ThreadLimitError extends TokenwardenError {
  readonly threadId: string;
  /** The group that is full (`scope: 'group'`), else `undefined`. */
  readonly group: string | undefined;
  readonly scope: 'group' | 'global';
  /** The limit that was reached. */
  readonly limit: number;

  constructor(fields: { threadId: string; group?: string | undefined; scope: 'group' | 'global'; limit: number }) {
    const where =
      fields.scope === 'group'
        ? `group ${JSON.stringify(fields.group)} already has ${fields.limit} live threads (the maxThreadsPerGroup option)`
        : `${fields.limit} threads are live (the maxThreads option)`;
    super(
      'TOO_MANY_THREADS',
      `Cannot open thread ${JSON.stringify(fields.threadId)}: ${where}; end threads or let idle ones expire`,
    );
    this.threadId = fields.threadId;
    this.group = fields.group;
    this.scope = fields.scope;
    this.limit = fields.limit;
  }
}

/** No configured backend serves the requested model. */
export class NoBackendError extends TokenwardenError {
  readonly model: string;
  readonly backends: readonly string[];

  constructor(model: string, backends: readonly string[], detail?: string) {
    super(
      'NO_BACKEND',
      `No backend serves model ${JSON.stringify(model)}` +
        (detail ? ` (${detail})` : '') +
        `; configured backends: ${backends.length ? backends.join(', ') : '(none)'}`,
    );
    this.model = model;
    this.backends = backends;
  }
}

/**
 * A provider call failed. `isRetryable` tells the router whether another attempt (or another
 * backend) may succeed: true for 429, 5xx, timeouts and connection errors; false for 400/401/403/404/422
 * and malformed responses.
 */
export class ProviderError extends TokenwardenError {
  readonly provider: string;
  readonly backend: string;
  /** HTTP status the provider answered, when there was one. */
  readonly status: number | undefined;
  readonly isRetryable: boolean;
  /** Milliseconds the provider asked us to wait (from Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(fields: {
    code?: string;
    provider: string;
    backend: string;
    message: string;
    status?: number;
    isRetryable: boolean;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super(fields.code ?? 'PROVIDER_ERROR', fields.message, { cause: fields.cause });
    this.provider = fields.provider;
    this.backend = fields.backend;
    this.status = fields.status;
    this.isRetryable = fields.isRetryable;
    this.retryAfterMs = fields.retryAfterMs;
  }
}

/** Every backend tried for a call failed. `errors` lists each attempt's error in order. */
export class AllBackendsFailedError extends TokenwardenError {
  readonly model: string;
  readonly errors: readonly Error[];

  constructor(model: string, errors: readonly Error[]) {
    super(
      'ALL_BACKENDS_FAILED',
      `All attempts for model ${JSON.stringify(model)} failed: ` + errors.map((e) => e.message).join('; '),
      { cause: errors[errors.length - 1] },
    );
    this.model = model;
    this.errors = errors;
  }
}

/** The call was aborted by the caller's AbortSignal or by its timeout. */
export class CallAbortedError extends TokenwardenError {
  readonly reason: 'aborted' | 'timeout';

  constructor(reason: 'aborted' | 'timeout', message: string) {
    super(reason === 'timeout' ? 'TIMEOUT' : 'ABORTED', message);
    this.reason = reason;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  return Object.prototype.toString.call(value);
}

/** How a policy refusal names the limit that was hit. */
export type PolicyLimitKind = 'usd' | 'tokens' | 'requests';

/** Fields of a policy refusal. Amounts in the limit's unit: USD, tokens or requests. */
export interface PolicyRefusalFields {
  policy: string;
  /** The policy's scope (`user`, `org`, `key`, `agent`, `model`, `thread`, `global`). */
  scope: string;
  entity: string;
  limit: PolicyLimitKind;
  max: number;
  /** Already charged in the window. */
  used: number;
  /** Held by calls in flight. */
  reserved: number;
  /** What the refused call asked for. */
  requested: number;
  /** Epoch ms the window resets; `null` for a lifetime budget. */
  resetsAt: number | null;
}

function refusalText(f: PolicyRefusalFields): string {
  const amount = (n: number): string => (f.limit === 'usd' ? `$${n.toFixed(6).replace(/\.?0+$/, '')}` : `${n} ${f.limit}`);
  const reset = f.resetsAt === null ? 'a lifetime budget' : `resets at ${new Date(f.resetsAt).toISOString()}`;
  return `policy ${JSON.stringify(f.policy)} for ${f.scope} ${JSON.stringify(f.entity)}: requested ${amount(f.requested)}, ` +
    `used ${amount(f.used)} of ${amount(f.max)}${f.reserved > 0 ? `, ${amount(f.reserved)} reserved by calls in flight` : ''}; ${reset}`;
}

/** What a policy refusal carries (the fields of {@link PolicyRefusalFields}), shared by both kinds. */
abstract class PolicyRefusalError extends TokenwardenError {
  readonly policy: string;
  readonly scope: string;
  readonly entity: string;
  readonly limit: PolicyLimitKind;
  readonly max: number;
  readonly used: number;
  readonly reserved: number;
  readonly requested: number;
  readonly resetsAt: number | null;

  protected constructor(code: string, message: string, fields: PolicyRefusalFields) {
    super(code, message);
    this.policy = fields.policy;
    this.scope = fields.scope;
    this.entity = fields.entity;
    this.limit = fields.limit;
    this.max = fields.max;
    this.used = fields.used;
    this.reserved = fields.reserved;
    this.requested = fields.requested;
    this.resetsAt = fields.resetsAt;
  }
}

/**
 * A budget policy (`maxUsd`/`maxTokens`) cannot afford a call. Thrown before any provider is contacted.
 * Code `POLICY_BUDGET_EXHAUSTED`; the gateway answers 429 with code `<scope>_budget_exhausted`. The
 * message contains `budget exhausted`.
 */
export class PolicyExhaustedError extends PolicyRefusalError {
  constructor(fields: PolicyRefusalFields) {
    super('POLICY_BUDGET_EXHAUSTED', `${fields.scope} budget exhausted: ${refusalText(fields)}`, fields);
  }
}

/**
 * A rate limit (`rpm`/`tpm`) of a policy refuses a call. Thrown before any provider is contacted. Code
 * `RATE_LIMITED`; the gateway answers 429 `rate_limit_exceeded` with `Retry-After`.
 */
export class RateLimitedError extends PolicyRefusalError {
  declare readonly resetsAt: number;
  /** Milliseconds from the refusal until the minute resets (at least 1). */
  readonly retryAfterMs: number;

  constructor(fields: PolicyRefusalFields & { resetsAt: number; now: number }) {
    super('RATE_LIMITED', `Rate limit exceeded: ${refusalText(fields)}`, fields);
    this.retryAfterMs = Math.max(1, fields.resetsAt - fields.now);
  }
}

/**
 * A call's model has no known price and a USD policy applies to it (without `unpriced: allow`). Code
 * `UNPRICED_MODEL`; thrown before any provider is contacted. Add the model to the `prices:` section.
 */
export class UnpricedModelError extends TokenwardenError {
  readonly model: string;
  readonly policy: string;

  constructor(model: string, policy: string) {
    super(
      'UNPRICED_MODEL',
      `Model ${JSON.stringify(model)} has no known price, and policy ${JSON.stringify(policy)} limits USD: ` +
        `add the model to the prices: section, or set unpriced: allow on the policy`,
    );
    this.model = model;
    this.policy = policy;
  }
}
