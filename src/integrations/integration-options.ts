import { z } from 'zod';
import type { PolicyGuard } from '../budget/policy-types.js';
import type { BudgetLedger } from '../budget/types.js';
import type { Metadata } from '../core/types.js';
import { positiveTokensOption } from '../core/option-schemas.js';
import type { UsageTracker } from '../usage/tracker.js';

/** Options every integration takes: where budgets live, where usage goes, and who calls by default. */
export interface IntegrationOptions {
  /** Thread budgets (a `MemoryBudgetLedger`, a `RedisBudgetLedger`, ...). A call with a thread id reserves its thread here. */
  ledger?: BudgetLedger;
  /** Budget policies (a `BudgetPolicies`, or any `PolicyGuard`): every call reserves each policy that applies. */
  policies?: PolicyGuard;
  /** Where usage events go. Default: the process-wide tracker (`getUsageTracker()`). */
  tracker?: UsageTracker;
  /** Default thread of every call (a call may name its own). */
  threadId?: string;
  /** Default agent of every call. */
  agentId?: string;
  /** Default user (the usage event's `metadata.user_id`; the `user` scope of policies). */
  userId?: string;
  /** Default org (`metadata.org_id`; the `org` scope of policies). */
  orgId?: string;
  /** The API key name calls are made under (`metadata.key_name`; the `key` scope of policies). */
  keyName?: string;
  /** Metadata added to every usage event. */
  metadata?: Metadata;
  /** Output tokens reserved for a call that sets no cap (and sent as its cap, so the reservation bounds it). Default 4096. */
  maxOutputTokensDefault?: number;
  /** Told when a ledger fails to settle (the usage event stands; the hold lapses after the ledger's TTL). Default: console.error. */
  onError?: (error: unknown) => void;
}

export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

const hasMethods = (value: unknown, ...names: string[]): boolean =>
  typeof value === 'object' && value !== null && names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

const id = z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }).optional();

/** The zod shape of {@link IntegrationOptions}; an integration extends it with its own options. */
export const integrationOptionsShape = {
  ledger: z.custom<BudgetLedger>((v) => hasMethods(v, 'reserve', 'settle', 'release'), { error: 'must be a BudgetLedger (reserve, settle, release, ...)' }).optional(),
  policies: z
    .custom<PolicyGuard>((v) => hasMethods(v, 'reserve', 'settle', 'release'), { error: 'must be a PolicyGuard (reserve, settle, release), e.g. a BudgetPolicies' })
    .optional(),
  tracker: z.custom<UsageTracker>((v) => hasMethods(v, 'record'), { error: 'must be a UsageTracker (an object with record())' }).optional(),
  threadId: id,
  agentId: id,
  userId: id,
  orgId: id,
  keyName: id,
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]), { error: 'must be an object of strings, numbers, booleans or null' }).optional(),
  maxOutputTokensDefault: positiveTokensOption.optional(),
  onError: z.custom<(error: unknown) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
};

/** Who a call is for: the integration's defaults, overridden per call. */
export interface CallIdentity {
  threadId?: string | undefined;
  agentId?: string | undefined;
  userId?: string | undefined;
  orgId?: string | undefined;
}

/** A per-call value, if it is a usable id (a non-empty string, or a number as text). */
export function idValue(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function defaultOnError(error: unknown): void {
  console.error('[tokenwarden] settling a budget failed (the hold lapses after the ledger TTL):', error);
}
