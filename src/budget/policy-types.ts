/**
 * Types of budget policies: money, tokens and request rates per user, org, key, agent, model, thread or
 * everything, over fixed UTC windows. A policy is a rule (`BudgetPolicy`); for one call it becomes one
 * {@link PolicyLine} per meter and entity it applies to; a {@link PolicyLedger} holds and charges lines
 * atomically, in memory or in Redis.
 */

import type { Readiness } from '../core/types.js';
import type { BudgetWindow } from './windows.js';

/** Who a policy is counted per: each distinct value of this attribute of a call is one entity. */
export type PolicyScope = 'thread' | 'user' | 'org' | 'key' | 'agent' | 'model' | 'global';

/** Every scope, in the order the README lists them. */
export const POLICY_SCOPES: readonly PolicyScope[] = Object.freeze(['thread', 'user', 'org', 'key', 'agent', 'model', 'global']);

/** Narrows a policy to some entities: each given attribute must equal the value, or start with it when the value ends in `*`. */
export type PolicyMatch = Partial<Record<Exclude<PolicyScope, 'global'>, string>>;

/**
 * A budget policy, as the library takes it (the YAML's snake_case words map to these). At least one of
 * `maxUsd`, `maxTokens`, `rpm`, `tpm` is set.
 *
 * @example
 * ```ts
 * const daily: BudgetPolicy = { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' };
 * const rate: BudgetPolicy = { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 };
 * ```
 */
export interface BudgetPolicy {
  /** Unique among the policies: letters, digits, `.`, `_`, `-`, at most 64 characters. */
  name: string;
  scope: PolicyScope;
  match?: PolicyMatch;
  /** Most USD spent per entity per window (counted in integer nano-USD). */
  maxUsd?: number;
  /** Most tokens (prompt + completion) per entity per window. */
  maxTokens?: number;
  /** Most requests per entity per UTC minute. */
  rpm?: number;
  /** Most tokens per entity per UTC minute. */
  tpm?: number;
  /** The window of `maxUsd`/`maxTokens` (`30s` … `1mo`, see `parseWindow`); absent: lifetime. */
  window?: string;
  /** A model without a known price under a `maxUsd` policy: refused (default), or let through uncounted in USD. */
  unpriced?: 'refuse' | 'allow';
  /** Percents of the limit at which an alert fires once per entity and window; default 75, 90, 95. */
  thresholds?: number[];
}

/** The attributes of one call that policies are matched and counted by. */
export interface CallSubject {
  model: string;
  thread?: string | undefined;
  user?: string | undefined;
  org?: string | undefined;
  key?: string | undefined;
  agent?: string | undefined;
}

/** Limits of one line; an absent limit is not checked. */
export interface LineLimits {
  /** Nano-USD. */
  nanos?: number;
  tokens?: number;
  requests?: number;
}

/**
 * One meter of one entity under one policy in one window: what a reservation holds against. A policy
 * gives up to two meters: `budget` (`maxUsd`/`maxTokens` over the policy's window) and `rate`
 * (`rpm`/`tpm` over the UTC minute).
 */
export interface PolicyLine {
  policy: string;
  scope: PolicyScope;
  /**
   * The entity (the user id, org, key name, ...; `*` for `global`). A `user` or `agent` entity of a call
   * with an org is qualified by it, `acme/u-7`, so that two orgs' users of the same id never share a budget.
   */
  entity: string;
  /** The org qualifying a `user` or `agent` entity (`acme` of `acme/u-7`); absent otherwise. */
  org?: string | undefined;
  meter: 'budget' | 'rate';
  /** Epoch ms the window started (0 for a lifetime budget). */
  windowStart: number;
  /** Epoch ms the window resets; `null` for a lifetime budget. */
  resetsAt: number | null;
  /** The window (`undefined` for a lifetime budget). */
  window: BudgetWindow | undefined;
  /** The policy's limits for this meter; a ledger replaces `nanos`/`tokens` of a `budget` line by an override set for the entity. */
  limits: LineLimits;
  /** False when the model has no price and the policy says `unpriced: allow`: USD is not counted on this line. */
  priced: boolean;
  /** Alert thresholds in percent (budget lines; empty for rate lines). */
  thresholds: readonly number[];
}

/** What one call asks of (reserve) or is charged to (settle) each of its lines. Each call also counts one request. */
export interface PolicyAmount {
  nanos: number;
  tokens: number;
}

/** The hold a {@link PolicyLedger} took for one call on all its lines. Settled or released exactly once; lapses after the ledger's TTL. */
export interface PolicyReservation {
  readonly id: string;
  readonly lines: readonly PolicyLine[];
  readonly amount: PolicyAmount;
  /** Epoch ms after which the hold lapses by itself. */
  readonly expiresAt: number;
}

/** Where one line stands (also the body of `GET /v1/budgets/{policy}/{entity}` after unit conversion). */
export interface PolicyStanding {
  policy: string;
  scope: PolicyScope;
  entity: string;
  meter: 'budget' | 'rate';
  windowStart: number;
  resetsAt: number | null;
  /** The limits in force (an override included). */
  limits: LineLimits;
  spentNanos: number;
  reservedNanos: number;
  usedTokens: number;
  reservedTokens: number;
  requests: number;
  reservedRequests: number;
}

/** A per-entity override of a policy's budget limits (set over HTTP or the library). */
export interface PolicyOverride {
  policy: string;
  entity: string;
  /** Nano-USD; absent keeps the policy's. */
  maxNanos?: number;
  maxTokens?: number;
}

/** An alert a ledger raises: a budget line crossed a threshold, or a call was refused by a line. Once per line, window and threshold. */
export interface PolicyAlert {
  type: 'threshold' | 'exhausted';
  /** For `threshold`: the percent crossed. */
  percent?: number;
  standing: PolicyStanding;
  /** Epoch ms. */
  at: number;
}

/** What reserving returned: the hold, and where each line stands with it held. */
export interface PolicyReserved {
  reservation: PolicyReservation;
  standings: PolicyStanding[];
}

/**
 * Where policy meters live (memory, Redis). Reserve is all-or-nothing over every line of a call: either
 * each line can afford the amount (and one request) and all are held, or nothing is held and the first
 * line that cannot is named by the thrown `PolicyExhaustedError` (budget) or `RateLimitedError` (rate).
 * Settle and release are idempotent by reservation id. A ledger applies overrides to `budget` lines.
 */
export interface PolicyLedger {
  reserve(lines: readonly PolicyLine[], amount: PolicyAmount): Promise<PolicyReserved>;
  /** Charges the real amount to the lines (in the windows they were held in) and frees the hold; `[]` if it was already done. */
  settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]>;
  release(reservation: PolicyReservation): Promise<void>;
  /** Where a line stands now (a line never used stands at zero; a budget line is restored first if the ledger restores). */
  standing(line: PolicyLine): Promise<PolicyStanding>;
  /** Budget lines of `policy` in the current window with the most spent (nanos, then tokens), at most `limit`. */
  top(policy: string, windowStart: number, limit: number): Promise<PolicyStanding[]>;
  setOverride(override: PolicyOverride): Promise<void>;
  /** True when there was an override to delete. */
  deleteOverride(policy: string, entity: string): Promise<boolean>;
  overrides(): Promise<PolicyOverride[]>;
  /** Subscribes to alerts raised by this instance; returns the unsubscribe function. */
  onAlert(listener: (alert: PolicyAlert) => void): () => void;
  close(): Promise<void>;
  readiness?(): Promise<Readiness>;
}

/**
 * What a ledger asks the durable record for a budget line it does not hold (after a restart, a Redis
 * restart, or a line idle long enough to leave memory): the spend of the line's entity in its window,
 * e.g. from a usage store's `summary()`.
 */
export type RestorePolicySpend = (line: PolicyLine) => Promise<PolicyAmount & { requests: number }>;

/**
 * Policies bound to a ledger and a price table: what the router, the pump and integrations call. It
 * turns a call's subject into the lines of every policy that applies, prices the estimate (the model's
 * input rate, or its cache-write rate when higher, for the prompt; its output rate for the completion)
 * and reserves them all at once. Implemented by `BudgetPolicies`.
 */
export interface PolicyGuard {
  /**
   * Reserves the call on every line of every policy that applies, or throws `PolicyExhaustedError`,
   * `RateLimitedError` or `UnpricedModelError` (nothing held). `undefined` when no policy applies.
   */
  reserve(subject: CallSubject, estimate: { promptTokens: number; completionTokens: number }): Promise<PolicyReserved | undefined>;
  /** Charges the call's real cost (the usage event's `costNanos`, 0 when unpriced) and total tokens. */
  settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]>;
  release(reservation: PolicyReservation): Promise<void>;
}
