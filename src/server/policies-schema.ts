import { z } from 'zod';
import { POLICY_SCOPES, type BudgetPolicy, type PolicyMatch, type PolicyScope } from '../budget/policy-types.js';
import { parseWindow } from '../budget/windows.js';
import { isPlainObject } from '../core/objects.js';
import { integer, mapping, mustBe } from './schema-parts.js';

/** A policy's name: what refusals, headers and `/v1/budgets/{policy}` name it by. */
export const POLICY_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Largest `max_usd`: the limit is counted in integer nano-USD, which must stay a safe integer. */
const MAX_USD = Math.floor(Number.MAX_SAFE_INTEGER / 1e9);
const MATCH_SCOPES = POLICY_SCOPES.filter((s): s is Exclude<PolicyScope, 'global'> => s !== 'global');
const LIMITS = ['max_usd', 'max_tokens', 'rpm', 'tpm'] as const;
const USD = `must be a positive number of USD, at most ${MAX_USD} (counted in nano-USD)`;
const WINDOW = 'must be a window like 30s, 15m, 1h, 1d, 1w or 1mo (a whole number from 1, then s, m, h, d, w or mo)';
const THRESHOLD = 'must be a percent in (0, 100]';

const windowText = z
  .unknown()
  .refine((v) => {
    try {
      parseWindow(v);
      return true;
    } catch {
      return false;
    }
  }, { error: mustBe(WINDOW) })
  .transform((v) => (v as string).trim());

const threshold = z.number({ error: mustBe(THRESHOLD) }).refine((p) => Number.isFinite(p) && p > 0 && p <= 100, { error: mustBe(THRESHOLD) });

const thresholds = z.array(threshold, { error: mustBe('must be a list of percents, like [75, 90, 95]') }).superRefine((list, ctx) => {
  const i = list.findIndex((p, j) => j > 0 && p <= list[j - 1]!);
  if (i > 0) ctx.addIssue({ code: 'custom', path: [i], message: `thresholds must be listed in increasing order, each once (got ${list[i - 1]} then ${list[i]})` });
});

/**
 * One `match` value: exact, or a prefix ending in `*`, which only `model` takes: when a restart rebuilds
 * a budget's spend from the usage store, the store can filter a model by prefix but no other attribute.
 */
function matchValue(scope: Exclude<PolicyScope, 'global'>) {
  return z.string({ error: mustBe('must be a non-empty string') }).superRefine((v, ctx) => {
    const star = v.indexOf('*');
    if (v.length === 0 || v === '*') {
      ctx.addIssue({ code: 'custom', message: `must name a ${scope}${scope === 'model' ? ' or a prefix followed by "*"' : ''} (got ${JSON.stringify(v)}); leave the key out to match every ${scope}` });
    } else if (star !== -1 && scope !== 'model') {
      ctx.addIssue({ code: 'custom', message: `a "*" prefix is only allowed for model: the usage store rebuilding spend after a restart can filter models by prefix, not ${scope}s (got ${JSON.stringify(v)})` });
    } else if (star !== -1 && star !== v.length - 1) {
      ctx.addIssue({ code: 'custom', message: `"*" may only end the value, as a prefix like "gpt-4o*" (got ${JSON.stringify(v)})` });
    }
  });
}

const match = mapping(Object.fromEntries(MATCH_SCOPES.map((s) => [s, matchValue(s).optional()])) as Record<(typeof MATCH_SCOPES)[number], z.ZodOptional<ReturnType<typeof matchValue>>>, {
  notMapping: `must be a mapping of ${MATCH_SCOPES.join(', ')} to a value (global cannot be matched)`,
});

const policy = mapping(
  {
    name: z.string({ error: mustBe('must be a name of letters, digits, ".", "_", "-" (at most 64)') }).regex(POLICY_NAME, {
      error: mustBe('must be a name of letters, digits, ".", "_", "-" (at most 64)'),
    }),
    scope: z.enum(POLICY_SCOPES as [PolicyScope, ...PolicyScope[]], { error: mustBe(`must be one of ${POLICY_SCOPES.join(', ')}`) }),
    match: match.optional(),
    max_usd: z
      .number({ error: mustBe(USD) })
      .refine((n) => Number.isFinite(n) && n > 0 && n <= MAX_USD, { error: mustBe(USD) })
      // Not `abort`: an aborted item would hide the list's own checks (duplicate names) from the report.
      .refine((n) => !(n > 0) || Math.round(n * 1e9) >= 1, { error: mustBe('must be at least 0.000000001 (one nano-USD, the unit spend is counted in)') })
      .optional(),
    max_tokens: integer(1).optional(),
    rpm: integer(1).optional(),
    tpm: integer(1).optional(),
    window: windowText.optional(),
    unpriced: z.enum(['refuse', 'allow'], { error: mustBe('must be refuse or allow') }).optional(),
    thresholds: thresholds.optional(),
  },
  { ifNull: 'must be a mapping { name, scope, match, max_usd, max_tokens, rpm, tpm, window, unpriced, thresholds } (got null)' },
).superRefine(checkPolicy, { when: (payload) => isPlainObject(payload.value) });

/** What one policy's keys say together: a limit at all, and budget-only keys only beside a budget limit. */
function checkPolicy(p: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (LIMITS.every((k) => p[k] === undefined)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'sets no limit: give at least one of max_usd, max_tokens, rpm, tpm' });
    return;
  }
  const budget = p.max_usd !== undefined || p.max_tokens !== undefined;
  if (!budget) {
    if (p.window !== undefined) ctx.addIssue({ code: 'custom', path: ['window'], message: 'only applies to max_usd and max_tokens (rpm and tpm count per UTC minute)' });
    if (p.thresholds !== undefined) ctx.addIssue({ code: 'custom', path: ['thresholds'], message: 'only applies to max_usd and max_tokens (alerts are not raised for rpm and tpm)' });
  }
  if (p.unpriced !== undefined && p.max_usd === undefined) {
    ctx.addIssue({ code: 'custom', path: ['unpriced'], message: 'only applies to a policy with max_usd (it says what to do with a model that has no price)' });
  }
}

/** Two policies may not share a name; checked over the names that are valid on their own. */
function checkNamesUnique(list: unknown[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    if (!isPlainObject(item) || typeof item.name !== 'string' || !POLICY_NAME.test(item.name)) return;
    const before = seen.get(item.name);
    if (before !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicates budgets.policies[${before}].name (${JSON.stringify(item.name)})` });
    else seen.set(item.name, i);
  });
}

type PolicyEntry = z.output<typeof policy>;

/** The library's {@link BudgetPolicy} of a checked YAML entry (snake_case words to camelCase). */
function toPolicy(p: PolicyEntry): BudgetPolicy {
  const out: BudgetPolicy = { name: p.name, scope: p.scope };
  if (p.match !== undefined) {
    const m: PolicyMatch = {};
    for (const s of MATCH_SCOPES) if (p.match[s] !== undefined) m[s] = p.match[s];
    out.match = m;
  }
  if (p.max_usd !== undefined) out.maxUsd = p.max_usd;
  if (p.max_tokens !== undefined) out.maxTokens = p.max_tokens;
  if (p.rpm !== undefined) out.rpm = p.rpm;
  if (p.tpm !== undefined) out.tpm = p.tpm;
  if (p.window !== undefined) out.window = p.window;
  if (p.unpriced !== undefined) out.unpriced = p.unpriced;
  if (p.thresholds !== undefined) out.thresholds = p.thresholds;
  return out;
}

/**
 * `budgets.policies:`: budget policies (money, tokens and request rates per entity of a scope, over fixed
 * UTC windows), each reported with its path and line when wrong. Unknown keys, duplicate names, a policy
 * without a limit, `match` on `global` or with a `*` anywhere but the end of a `model` value are refused.
 *
 * @example
 * ```yaml
 * budgets:
 *   policies:
 *     - { name: user-daily, scope: user, max_usd: 5, window: 1d }
 *     - { name: key-rate, scope: key, rpm: 60, tpm: 100000 }
 *     - { name: gpt4o-org, scope: org, match: { model: "gpt-4o*" }, max_tokens: 1000000, window: 1mo }
 * ```
 */
export const PoliciesSection = z
  .array(policy, { error: mustBe('must be a list of { name, scope, match, max_usd, max_tokens, rpm, tpm, window, unpriced, thresholds }') })
  .superRefine(checkNamesUnique, { when: (payload) => Array.isArray(payload.value) })
  .transform((list): BudgetPolicy[] => list.map(toPolicy));
