import { z } from 'zod';
import { ORIGIN_RULE, parseOrigin } from '../gateway/edge-guard.js';
import type { LocatedProblem } from './config-problems.js';
import { describeValue, parseByteSize } from './config-values.js';
import { mustBe } from './schema-parts.js';

/** Environment variables read by the configuration (all optional). */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** A whole number written in an environment variable (surrounding spaces allowed), from `min` to `max`. */
function envInteger(digits: RegExp, min: number, max: number, problem: string) {
  const inRange = (s: string): boolean => digits.test(s.trim()) && Number(s.trim()) >= min && Number(s.trim()) <= max;
  return z.string().refine(inRange, { error: mustBe(problem) }).transform((s) => Number(s.trim()));
}

const bodyLimitOf = (s: string): number | undefined => parseByteSize(/^\d+$/.test(s.trim()) ? Number(s.trim()) : s);

const corsOrigins = z
  .string()
  .transform((s) => s.split(',').map((o) => o.trim()))
  .superRefine((list, ctx) => {
    const bad = list.find((o) => parseOrigin(o) === undefined);
    if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `${ORIGIN_RULE} (got ${describeValue(bad)})` });
  })
  .transform((list) => list.map((o) => parseOrigin(o)!));

/**
 * The `TOKENWARDEN_*` variables that override the file, in the order their problems are reported. The
 * generic `DATABASE_URL` and `REDIS_URL` are deliberately absent, so a variable meant for another program
 * never moves the gateway off its embedded defaults.
 */
export const ConfigEnvSchema = z.object({
  TOKENWARDEN_HEADERS_TIMEOUT_MS: envInteger(/^\d{1,10}$/, 1000, 3_600_000, 'must be an integer from 1000 to 3600000').optional(),
  TOKENWARDEN_REQUEST_TIMEOUT_MS: envInteger(/^\d{1,10}$/, 1000, 3_600_000, 'must be an integer from 1000 to 3600000').optional(),
  TOKENWARDEN_HOST: z.string().optional(),
  TOKENWARDEN_PORT: envInteger(/^\d{1,5}$/, 0, 65535, 'must be an integer from 0 to 65535').optional(),
  TOKENWARDEN_BODY_LIMIT: z
    .string()
    .refine((s) => (bodyLimitOf(s) ?? 0) >= 1024 && bodyLimitOf(s)! <= 256 * 1024 * 1024, { error: mustBe('must be a size from 1kb to 256mb') })
    .transform((s) => bodyLimitOf(s)!)
    .optional(),
  TOKENWARDEN_CORS_ORIGINS: corsOrigins.optional(),
  TOKENWARDEN_DEFAULT_MAX_TOKENS: envInteger(/^\d+$/, 1, Number.MAX_SAFE_INTEGER, 'must be an integer >= 1').optional(),
  TOKENWARDEN_DB: z.string().optional(),
  TOKENWARDEN_LEDGER: z
    .string()
    .refine((w) => w === 'memory' || /^rediss?:\/\//i.test(w), { error: mustBe('must be "memory" or a redis:// URL') })
    .optional(),
});

/** The overriding values found in the environment (a variable set to `''` counts as unset). */
export type ConfigEnvValues = z.output<typeof ConfigEnvSchema>;

/** What each variable overrides, as reported in `TokenwardenConfig.envOverrides`. */
export const ENV_TARGETS: Readonly<Record<keyof ConfigEnvValues, string>> = {
  TOKENWARDEN_HEADERS_TIMEOUT_MS: 'server.headers_timeout_ms',
  TOKENWARDEN_REQUEST_TIMEOUT_MS: 'server.request_timeout_ms',
  TOKENWARDEN_HOST: 'server.host',
  TOKENWARDEN_PORT: 'server.port',
  TOKENWARDEN_BODY_LIMIT: 'server.body_limit',
  TOKENWARDEN_CORS_ORIGINS: 'server.cors_origins',
  TOKENWARDEN_DEFAULT_MAX_TOKENS: 'budgets.default_max_tokens',
  TOKENWARDEN_DB: 'store',
  TOKENWARDEN_LEDGER: 'ledger',
};

/**
 * Reads the overriding variables one by one: `values` holds the good ones, `bad` names the others (their
 * problems are in `problems`, as `environment <NAME>`).
 */
export function parseConfigEnv(env: ConfigEnv): { values: ConfigEnvValues; bad: Set<string>; problems: LocatedProblem[] } {
  const values: Record<string, unknown> = {};
  const bad = new Set<string>();
  const problems: LocatedProblem[] = [];
  for (const [name, schema] of Object.entries(ConfigEnvSchema.shape)) {
    const value = env[name];
    if (value === undefined || (name === 'TOKENWARDEN_CORS_ORIGINS' ? value.trim() : value) === '') continue;
    const result = schema.safeParse(value);
    if (result.success) values[name] = result.data;
    else {
      bad.add(name);
      problems.push(...result.error.issues.map((issue) => ({ path: `environment ${name}`, problem: issue.message })));
    }
  }
  return { values: values as ConfigEnvValues, bad, problems };
}

/** The `envOverrides` record for the variables that were set. */
export function envOverridesOf(values: ConfigEnvValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, target] of Object.entries(ENV_TARGETS)) {
    if (values[name as keyof ConfigEnvValues] !== undefined) out[name] = target;
  }
  return out;
}
