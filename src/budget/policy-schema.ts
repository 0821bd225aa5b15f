import { z } from 'zod';
import { formatPath } from '../core/format-path.js';
import { unknownKey } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { POLICY_SCOPES, type BudgetPolicy, type PolicyMatch, type PolicyScope } from './policy-types.js';
import { parseWindow, type BudgetWindow } from './windows.js';

/**
 * A policy as {@link BudgetPolicies} keeps it: checked, `maxUsd` also in integer nano-USD, the window
 * parsed, defaults filled in. Frozen.
 */
export interface NormalizedPolicy {
  readonly name: string;
  readonly scope: PolicyScope;
  readonly match: Readonly<PolicyMatch> | undefined;
  readonly maxUsd: number | undefined;
  /** `maxUsd` in nano-USD (`Math.round(maxUsd * 1e9)`). */
  readonly maxNanos: number | undefined;
  readonly maxTokens: number | undefined;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  /** The window as written (`1d`), `undefined` for a lifetime budget. */
  readonly window: string | undefined;
  /** The parsed window of the budget meter. */
  readonly budgetWindow: BudgetWindow | undefined;
  readonly unpriced: 'refuse' | 'allow';
  /** Ascending, without repeats. */
  readonly thresholds: readonly number[];
}

/** The attributes a `match` may name. */
export const MATCH_KEYS = ['thread', 'user', 'org', 'key', 'agent', 'model'] as const;
const POLICY_KEYS = ['name', 'scope', 'match', 'maxUsd', 'maxTokens', 'rpm', 'tpm', 'window', 'unpriced', 'thresholds'];
/** Default alert thresholds, percent. */
export const DEFAULT_POLICY_THRESHOLDS: readonly number[] = Object.freeze([75, 90, 95]);
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const WINDOW_PROBLEM = 'must be like 30s, 15m, 1h, 1d, 1w or 1mo (a whole number from 1, then s, m, h, d, w or mo)';

function isWindow(text: string): boolean {
  try {
    parseWindow(text);
    return true;
  } catch {
    return false;
  }
}

const wholeAtLeast1 = z
  .number({ error: 'must be a whole number >= 1' })
  .refine((n) => Number.isSafeInteger(n) && n >= 1, { error: 'must be a whole number >= 1' });

const matchValue = z.string({ error: 'must be a string (exact, or a prefix ending in *)' }).min(1, { error: 'must not be empty' });

const MatchSchema = z
  .object(
    Object.fromEntries(MATCH_KEYS.map((k) => [k, matchValue.optional()])) as Record<(typeof MATCH_KEYS)[number], z.ZodOptional<typeof matchValue>>,
    { error: `must be an object of ${MATCH_KEYS.join(', ')} → value` },
  )
  .catchall(unknownKey(`is not a match key (expected one of ${MATCH_KEYS.join(', ')})`));

const PolicySchema = z
  .object(
    {
      name: z
        .string({ error: 'must be a string' })
        .regex(NAME, { error: 'must be 1 to 64 letters, digits, ".", "_" or "-"' }),
      scope: z.enum(POLICY_SCOPES as [PolicyScope, ...PolicyScope[]], { error: `must be one of ${POLICY_SCOPES.join(', ')}` }),
      match: MatchSchema.optional(),
      maxUsd: z
        .number({ error: 'must be a finite number > 0 (USD)' })
        .refine((n) => Number.isFinite(n) && n > 0, { error: 'must be a finite number > 0 (USD)' })
        .refine((n) => Math.round(n * 1e9) >= 1, { error: 'must be at least 0.000000001 (one nano-USD)' })
        .refine((n) => Number.isSafeInteger(Math.round(n * 1e9)), { error: 'must be at most 9007199.254740991 (2^53 - 1 nano-USD)' })
        .optional(),
      maxTokens: wholeAtLeast1.optional(),
      rpm: wholeAtLeast1.optional(),
      tpm: wholeAtLeast1.optional(),
      window: z
        .string({ error: WINDOW_PROBLEM })
        .refine((w) => isWindow(w), { error: WINDOW_PROBLEM })
        .optional(),
      unpriced: z.enum(['refuse', 'allow'], { error: 'must be "refuse" or "allow"' }).optional(),
      thresholds: z
        .array(
          z.number({ error: 'must be a percent in (0, 100]' }).refine((n) => Number.isFinite(n) && n > 0 && n <= 100, {
            error: 'must be a percent in (0, 100]',
          }),
          { error: 'must be a list of percents in (0, 100]' },
        )
        .optional(),
    },
    { error: 'must be an object like { name, scope, maxUsd, window }' },
  )
  .catchall(unknownKey(`is not a policy field (expected one of ${POLICY_KEYS.join(', ')})`))
  .superRefine((p, ctx) => {
    if (p.maxUsd === undefined && p.maxTokens === undefined && p.rpm === undefined && p.tpm === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'must set at least one limit: maxUsd, maxTokens, rpm or tpm', params: { got: p.name } });
    }
    if (p.window !== undefined && p.maxUsd === undefined && p.maxTokens === undefined) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: 'applies to maxUsd/maxTokens, and the policy sets neither (rpm and tpm count per UTC minute)' });
    }
  });

const PoliciesSchema = z
  .array(PolicySchema, { error: 'must be a list of policies' })
  .superRefine((policies, ctx) => {
    const seen = new Map<string, number>();
    policies.forEach((p, i) => {
      const first = seen.get(p.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `repeats the name of policies[${first}] (names must be unique)` });
      } else seen.set(p.name, i);
    });
  });

/**
 * Checks a list of {@link BudgetPolicy} and normalizes it. The first problem throws a `ValidationError`
 * naming the field by its path under `prefix` (`policies[2].maxUsd: must be a finite number > 0 (USD)`).
 *
 * @example
 * ```ts
 * parsePolicies([{ name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' }])[0]!.maxNanos; // 5_000_000_000
 * parsePolicies([{ name: 'x', scope: 'user' }]); // ValidationError: policies[0]: must set at least one limit ...
 * ```
 */
export function parsePolicies(policies: unknown, prefix: string | readonly PropertyKey[] = 'policies'): NormalizedPolicy[] {
  const parsed = parseOptions(PoliciesSchema, policies, prefix);
  const base = typeof prefix === 'string' ? [prefix] : [...prefix];
  return parsed.map((p, i) => normalize(p as BudgetPolicy, formatPath([...base, i, 'window'])));
}

function normalize(p: BudgetPolicy, windowField: string): NormalizedPolicy {
  const budgetWindow = p.window === undefined ? undefined : Object.freeze(parseWindow(p.window, windowField));
  let match: PolicyMatch | undefined;
  if (p.match !== undefined) {
    match = {};
    for (const key of MATCH_KEYS) if (p.match[key] !== undefined) match[key] = p.match[key];
    if (Object.keys(match).length === 0) match = undefined;
  }
  const thresholds = [...new Set(p.thresholds ?? DEFAULT_POLICY_THRESHOLDS)].sort((a, b) => a - b);
  return Object.freeze({
    name: p.name,
    scope: p.scope,
    match: match === undefined ? undefined : Object.freeze(match),
    maxUsd: p.maxUsd,
    maxNanos: p.maxUsd === undefined ? undefined : Math.round(p.maxUsd * 1e9),
    maxTokens: p.maxTokens,
    rpm: p.rpm,
    tpm: p.tpm,
    window: p.window?.trim(),
    budgetWindow,
    unpriced: p.unpriced ?? 'refuse',
    thresholds: Object.freeze(thresholds),
  });
}

