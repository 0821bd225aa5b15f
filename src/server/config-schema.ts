import { z } from 'zod';
import type { Threshold } from '../budget/types.js';
import { isPlainObject } from '../core/objects.js';
import { ORIGIN_RULE, parseOrigin } from '../gateway/edge-guard.js';
import { CLIENT_ID_PATTERN } from '../gateway/thread-scope.js';
import type { BudgetPolicy } from '../budget/policy-types.js';
import { AlertsOutboxSection, AlertsSection, type AlertConfig } from './alerts-schema.js';
import { PoliciesSection } from './policies-schema.js';
import { PricesSection, type ConfiguredPrice } from './prices-schema.js';
import { RouterConfigSchema } from './router-schema.js';
import { byteSize, duration, flag, integer, mapping, mustBe, text } from './schema-parts.js';

/** Where the HTTP server listens and how it treats requests. */
export interface ServerConfig {
  host: string;
  port: number;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  /** How long a graceful shutdown waits for in-flight requests before cutting them, ms. */
  shutdownTimeoutMs: number;
  /** Longest wait for a request's headers before answering 408 and closing the socket, ms. */
  headersTimeoutMs: number;
  /** Longest wait for a whole request (headers and body), ms; at least `headersTimeoutMs`. */
  requestTimeoutMs: number;
  /** Browser origins whose pages may call the gateway (CORS), normalised; none by default. */
  corsOrigins: string[];
}

/** Thread budgets. */
export interface BudgetsConfig {
  /** Maximum tokens of a thread that has no budget of its own. */
  defaultMaxTokens: number;
  thresholds: Threshold[];
  /** Refuse chat calls without `x-thread-id` (400) instead of metering them unbudgeted. */
  requireThread: boolean;
  /** Most live threads one org (or the keyless caller) holds in the memory ledger at once. */
  maxThreadsPerOrg: number;
  /** Most live threads the memory ledger holds at once, all orgs together. */
  maxThreads: number;
  /** A thread unused this long leaves the memory ledger (its spend is rebuilt from the store), ms. */
  threadIdleTtlMs: number;
  /** `budgets.policies`: money, token and rate limits per user, org, key, agent, model, thread or everything (none by default). */
  policies: BudgetPolicy[];
}

/** Where usage events are persisted. */
export type StoreConfig =
  | { kind: 'sqlite'; path: string }
  /** `spool`: the local crash-safety spool file of the PostgreSQL store (default: the store's own). */
  | { kind: 'postgres'; url: string; table?: string; spool?: string };

/** Where thread budgets live. */
export type LedgerConfig =
  | { kind: 'memory'; reservationTtlMs?: number }
  | { kind: 'redis'; url: string; failOpen: boolean; keyPrefix?: string; reservationTtlMs?: number };

/** One gateway key, stored as the SHA-256 of the secret. */
export interface KeyConfig {
  name: string;
  /** Lower-case hex SHA-256 of the bearer token (without the `sha256:` prefix). */
  sha256: string;
  /** The org the key belongs to; `null` only for admin keys without an org. */
  org: string | null;
  admin: boolean;
}

/** The validated configuration: plain data, no objects built yet (see `buildRuntime`). */
export interface TokenwardenConfig {
  /** The YAML file read, if any. */
  file: string | undefined;
  server: ServerConfig;
  /**
   * The `providers` section as written (already checked by the router's schema, `RouterConfigSchema`), or
   * `undefined` when the file has none: then providers are found from the environment's API keys, or the
   * mock provider serves every model.
   */
  providers: Record<string, unknown> | undefined;
  budgets: BudgetsConfig;
  store: StoreConfig;
  ledger: LedgerConfig;
  keys: KeyConfig[];
  /** The `prices:` section: prices that win over the catalog (none when the file has no such section). */
  prices: ConfiguredPrice[];
  /** The `alerts:` webhooks (none when the file has no such section). */
  alerts: AlertConfig[];
  /**
   * The file undelivered alerts are kept in (`alerts_outbox`, absolute); default `alerts-outbox.jsonl` beside
   * the SQLite store's file or the PostgreSQL store's spool, else `.tokenwarden/alerts-outbox.jsonl` in cwd.
   */
  alertsOutbox: string;
  /** Environment variables that overrode or filled a setting, e.g. `{ TOKENWARDEN_PORT: 'server.port' }`. */
  envOverrides: Record<string, string>;
}

/** Defaults used when neither the file nor the environment says otherwise. */
export const CONFIG_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 4000,
  bodyLimit: 4 * 1024 * 1024,
  shutdownTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  defaultMaxTokens: 100_000,
  maxThreadsPerOrg: 10_000,
  maxThreads: 1_000_000,
  threadIdleTtlMs: 24 * 3_600_000,
  sqlitePath: '.tokenwarden/usage.db',
});



const SEVERITIES = ['warning', 'critical', 'final'] as const;
const MIN_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 3_600_000;
const ID_TEXT = 'letters, digits and ._:@- (at most 128)';
const HASH_PROBLEM =
  'must be "sha256:" followed by the 64 hex digits of the key\'s SHA-256 (e.g. from: printf %s "$KEY" | sha256sum)';
const HASH_PATTERN = /^sha256:[0-9a-fA-F]{64}$/;

/** A browser origin (`https://app.example.com`), normalised to what browsers send in `Origin`. */
const origin = z
  .unknown()
  .refine((v) => parseOrigin(v) !== undefined, { error: mustBe(ORIGIN_RULE) })
  .transform((v) => parseOrigin(v)!);

/** `server:`: where the gateway listens and how it treats requests (timeouts in ms, sizes with units). */
export const ServerSection = mapping({
  host: text().optional(),
  port: integer(0, 65535).optional(),
  body_limit: byteSize(1024, 256 * 1024 * 1024, 'must be a size from 1kb to 256mb, as bytes or like "4mb"').optional(),
  shutdown_timeout_ms: integer(0).optional(),
  cors_origins: z.array(origin, { error: mustBe('must be a list of origins such as [https://app.example.com]') }).optional(),
  headers_timeout_ms: integer(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS).optional(),
  request_timeout_ms: integer(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS).optional(),
}, { listed: ['host', 'port', 'body_limit', 'shutdown_timeout_ms', 'headers_timeout_ms', 'request_timeout_ms', 'cors_origins'] });

const threshold = mapping(
  {
    percent: z
      .number({ error: mustBe('must be a number in (0, 100]') })
      .refine((p) => p > 0 && p <= 100, { error: mustBe('must be a number in (0, 100]') }),
    severity: z.enum(SEVERITIES, { error: mustBe(`must be one of ${SEVERITIES.join(', ')}`) }),
  },
  { ifNull: 'must be a mapping { percent, severity } (got null)' },
).transform((t): Threshold => ({ percent: t.percent, severity: t.severity }));

const thresholds = z
  .array(threshold, { error: mustBe('must be a list of { percent, severity }') })
  .superRefine((list, ctx) => {
    const i = list.findIndex((t, j) => j > 0 && t.percent <= list[j - 1]!.percent);
    if (i > 0) ctx.addIssue({ code: 'custom', path: [i, 'percent'], message: 'thresholds must be listed in increasing order of percent' });
  });

/** `budgets:`: thread budgets and how many threads the ledger holds. */
export const BudgetsSection = mapping({
  default_max_tokens: integer(1).optional(),
  thresholds: thresholds.optional(),
  require_thread: flag().optional(),
  max_threads_per_org: integer(1).optional(),
  max_threads: integer(1).optional(),
  thread_idle_ttl: duration(
    1_000,
    365 * 86_400_000,
    'must be a duration from 1s to 365d with its unit, like "24h", "30m" or "90s"',
  ).optional(),
  policies: PoliciesSection.optional(),
}).superRefine(
  (b, ctx) => {
    // Checked over the values that are good on their own, even when another budget key is bad.
    const good = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;
    const perOrg = b.max_threads_per_org === undefined ? CONFIG_DEFAULTS.maxThreadsPerOrg : b.max_threads_per_org;
    const max = b.max_threads === undefined ? CONFIG_DEFAULTS.maxThreads : b.max_threads;
    if (good(perOrg) && good(max) && perOrg > max) {
      ctx.addIssue({ code: 'custom', path: ['max_threads_per_org'], message: `must not exceed budgets.max_threads (${max}) (got ${perOrg})` });
    }
  },
  { when: (payload) => isPlainObject(payload.value) },
);

/** `store:`: `sqlite: <path>` or `postgres: <url>` (with `table`, `spool`); a bare string is either. */
export const StoreSection = z.preprocess(
  (v) => (typeof v === 'string' ? (/^postgres(ql)?:\/\//i.test(v) ? { postgres: v } : { sqlite: v }) : v),
  mapping({
    sqlite: text().optional(),
    postgres: text(/^postgres(ql)?:\/\/\S+$/i, 'a postgres:// or postgresql:// URL').optional(),
    table: text(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'an SQL identifier (letters, digits, _)').optional(),
    spool: text().optional(),
  }).superRefine(
    (s, ctx) => {
      const at = (path: string[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
      if (s.sqlite !== undefined && s.postgres !== undefined) at([], 'set either sqlite or postgres, not both');
      else if (s.sqlite !== undefined) {
        for (const key of ['table', 'spool'] as const) if (s[key] !== undefined) at([key], 'only applies to a postgres store');
      } else if (s.postgres === undefined) at([], 'must set sqlite: <path> or postgres: <url>');
    },
    { when: (payload) => isPlainObject(payload.value) },
  ),
);

const LEDGER_WORD = 'must be "memory" or a redis:// URL';
const ledgerWord = z
  .string({ error: mustBe(LEDGER_WORD) })
  .refine((w) => w === 'memory' || /^rediss?:\/\//i.test(w), { error: mustBe(LEDGER_WORD) });
const ledgerFields = {
  url: ledgerWord.optional(),
  fail_open: flag().optional(),
  key_prefix: text(/^[^\s]{1,64}$/, 'at most 64 characters without spaces').optional(),
  reservation_ttl_ms: integer(1000).optional(),
};

const ledgerMapping = mapping(ledgerFields).superRefine((l, ctx) => {
  if (l.url !== undefined && l.url !== 'memory') return;
  if (l.fail_open !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['fail_open'], message: 'only applies to a redis ledger (the memory ledger cannot be unavailable)' });
  }
  if (l.key_prefix !== undefined) ctx.addIssue({ code: 'custom', path: ['key_prefix'], message: 'only applies to a redis ledger' });
});
type LedgerFields = z.output<typeof ledgerMapping>;

/** `ledger:`: `memory`, a redis:// URL, or `{ url, fail_open, key_prefix, reservation_ttl_ms }`. */
export const LedgerSection = z.union([ledgerWord.transform((url): LedgerFields => ({ url })), ledgerMapping], {
  error: mustBe(`must be a mapping with keys ${Object.keys(ledgerFields).join(', ')}`),
});

const key = mapping(
  {
    name: text(CLIENT_ID_PATTERN, ID_TEXT),
    hash: z.string({ error: mustBe(HASH_PROBLEM) }).regex(HASH_PATTERN, { error: mustBe(HASH_PROBLEM) }),
    org: text(CLIENT_ID_PATTERN, ID_TEXT).nullish(),
    admin: flag().optional(),
  },
  { ifNull: 'must be a mapping { name, hash, org, admin } (got null)' },
).superRefine(
  (k, ctx) => {
    if ((k.org === undefined || k.org === null) && k.admin !== true) {
      ctx.addIssue({ code: 'custom', path: ['org'], message: 'is required (the org whose threads and usage this key sees); only admin keys may omit it' });
    }
  },
  { when: (payload) => isPlainObject(payload.value) },
);

/** Two keys may share neither a name nor a secret; checked over the entries that are valid on their own. */
function checkKeysUnique(list: unknown[], ctx: z.RefinementCtx): void {
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  list.forEach((item, i) => {
    if (!isPlainObject(item)) return;
    const { name, hash } = item;
    if (typeof name !== 'string' || !CLIENT_ID_PATTERN.test(name) || typeof hash !== 'string' || !HASH_PATTERN.test(hash)) return;
    const sha = hash.slice(7).toLowerCase();
    const dupName = names.get(name);
    if (dupName !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicates keys[${dupName}].name (${JSON.stringify(name)})` });
    const dupHash = hashes.get(sha);
    if (dupHash !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'hash'], message: `duplicates keys[${dupHash}].hash: two keys would share one secret` });
    names.set(name, i);
    hashes.set(sha, i);
  });
}

/** `keys:`: gateway keys, each stored as the SHA-256 of its secret. */
export const KeysSection = z
  .array(key, { error: mustBe('must be a list of { name, hash, org, admin }') })
  .superRefine(checkKeysUnique, { when: (payload) => Array.isArray(payload.value) })
  .transform((list): KeyConfig[] =>
    list.map((k) => ({ name: k.name, sha256: k.hash.slice(7).toLowerCase(), org: k.org ?? null, admin: k.admin ?? false })),
  );

/** `providers:`: the router's own config (see `parseRouterConfig`), checked by the router's schema. */
export const ProvidersSection = z
  .looseObject({}, { error: mustBe('must be a mapping { strategy, retries, backends }') })
  .pipe(RouterConfigSchema);

/**
 * The schema of `tokenwarden.yaml`, section by section. Each section is parsed on its own (so that one
 * bad section does not hide the problems of another) and is optional: a missing or empty one takes the
 * defaults. `TOKENWARDEN_*` variables then override what the file says (see `config-env.ts`).
 */
export const CONFIG_SECTIONS = {
  server: ServerSection,
  providers: ProvidersSection,
  budgets: BudgetsSection,
  store: StoreSection,
  ledger: LedgerSection,
  keys: KeysSection,
  prices: PricesSection,
  alerts: AlertsSection,
  alerts_outbox: AlertsOutboxSection,
} as const;

/** The top level of the file: a mapping whose keys are the sections (each checked by its own schema). */
export const ConfigRootSchema = mapping(
  Object.fromEntries(Object.keys(CONFIG_SECTIONS).map((k) => [k, z.unknown().optional()])) as Record<keyof typeof CONFIG_SECTIONS, z.ZodOptional<z.ZodUnknown>>,
  { notMapping: `the configuration must be a mapping with keys ${Object.keys(CONFIG_SECTIONS).join(', ')}` },
);
