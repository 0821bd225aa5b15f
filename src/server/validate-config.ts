import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { DEFAULT_THRESHOLDS } from '../budget/types.js';
import { isPlainObject } from '../core/objects.js';
import {
  CONFIG_DEFAULTS,
  CONFIG_SECTIONS,
  ConfigRootSchema,
  type BudgetsConfig,
  type LedgerConfig,
  type ServerConfig,
  type StoreConfig,
  type TokenwardenConfig,
} from './config-schema.js';
import { envOverridesOf, parseConfigEnv, type ConfigEnv, type ConfigEnvValues } from './config-env.js';
import { problemsFromIssues, providersProblemOf, type LocatedProblem, type PathSegment } from './config-problems.js';

export type { ConfigEnv } from './config-env.js';

/** Options of {@link validateConfig}. */
export interface ValidateConfigOptions {
  env?: ConfigEnv;
  /** The file the object came from (for `TokenwardenConfig.file`). */
  file?: string;
  /** Directory relative SQLite paths are resolved against. Default: the file's directory, else cwd. */
  baseDir?: string;
  /**
   * Checks the `providers` section further (e.g. that the variables named by `api_key_env` are set) once
   * its shape is valid, and throws a `ConfigError` whose `path` is relative to that section.
   */
  checkProviders?: (providers: Record<string, unknown>) => void;
}

/** The outcome of {@link validateConfig}: a config when there are no problems. */
export type ValidateConfigResult =
  | { ok: true; config: TokenwardenConfig }
  | { ok: false; problems: LocatedProblem[] };

const TIMEOUT_VARIABLES = ['TOKENWARDEN_HEADERS_TIMEOUT_MS', 'TOKENWARDEN_REQUEST_TIMEOUT_MS'];

type Sections = typeof CONFIG_SECTIONS;
/** Each section as its schema outputs it; `undefined` when the file leaves it out. */
type ParsedSections = { [K in keyof Sections]: z.output<Sections[K]> | undefined };

/**
 * Validates a parsed tokenwarden.yaml object (plus environment overrides) into a
 * {@link TokenwardenConfig}, collecting every problem with its path instead of stopping at the first.
 *
 * Environment: `TOKENWARDEN_HOST`, `TOKENWARDEN_PORT`, `TOKENWARDEN_BODY_LIMIT`,
 * `TOKENWARDEN_HEADERS_TIMEOUT_MS`, `TOKENWARDEN_REQUEST_TIMEOUT_MS`, `TOKENWARDEN_CORS_ORIGINS` (comma-separated),
 * `TOKENWARDEN_DEFAULT_MAX_TOKENS`, `TOKENWARDEN_DB` (SQLite path or postgres:// URL; overrides
 * `store`), `TOKENWARDEN_LEDGER` (`memory` or redis:// URL; overrides `ledger`). The generic
 * `DATABASE_URL` and `REDIS_URL` are deliberately ignored, so a variable meant for another program never
 * moves the gateway off its embedded defaults.
 *
 * @example
 * ```ts
 * const r = validateConfig({ server: { port: 8080 } }, { env: process.env });
 * if (!r.ok) console.error(r.problems);
 * ```
 */
export function validateConfig(raw: unknown, options: ValidateConfigOptions = {}): ValidateConfigResult {
  const env = options.env ?? {};
  const problems: LocatedProblem[] = [];
  const root = parseRoot(raw, problems);
  const sections = parseSections(root, problems);
  if (sections.parsed.providers !== undefined && options.checkProviders && isPlainObject(root.providers)) {
    checkProvidersFurther(root.providers, options.checkProviders, problems);
  }
  const fromEnv = parseConfigEnv(env);
  problems.push(...fromEnv.problems);
  const values = fromEnv.values;
  const server = resolveServer(sections.parsed.server, values, env);
  const timeoutsKnown = !sections.failed.has('server') && !TIMEOUT_VARIABLES.some((v) => fromEnv.bad.has(v));
  if (timeoutsKnown) checkTimeouts(server, problems);
  if (problems.length > 0) return { ok: false, problems };
  const baseDir = options.baseDir ?? process.cwd();
  const store = resolveStore(sections.parsed.store, values, baseDir);
  const config: TokenwardenConfig = {
    file: options.file,
    server,
    providers: isPlainObject(root.providers) ? root.providers : undefined,
    budgets: resolveBudgets(sections.parsed.budgets, values),
    store,
    ledger: resolveLedger(sections.parsed.ledger, values),
    keys: sections.parsed.keys ?? [],
    prices: sections.parsed.prices ?? [],
    alerts: sections.parsed.alerts ?? [],
    alertsOutbox: resolveAlertsOutbox(sections.parsed.alerts_outbox, store, baseDir),
    envOverrides: envOverridesOf(values),
  };
  return { ok: true, config };
}

/** The top-level mapping (`{}` for an empty file); its unknown keys and a non-mapping are problems. */
function parseRoot(raw: unknown, problems: LocatedProblem[]): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  const result = ConfigRootSchema.safeParse(raw);
  if (!result.success) problems.push(...problemsFromIssues(result.error.issues));
  return isPlainObject(raw) ? raw : {};
}

/** Every section through its own schema, so that one bad section does not hide another's problems. */
function parseSections(root: Record<string, unknown>, problems: LocatedProblem[]): { parsed: ParsedSections; failed: Set<string> } {
  const out: Partial<Record<keyof Sections, unknown>> = {};
  const failed = new Set<string>();
  for (const name of Object.keys(CONFIG_SECTIONS) as Array<keyof Sections>) {
    const value = root[name];
    if (value === undefined || value === null) continue;
    const result = CONFIG_SECTIONS[name].safeParse(value);
    if (result.success) out[name] = result.data;
    else {
      failed.add(name);
      problems.push(...problemsFromIssues(result.error.issues, [name]));
    }
  }
  return { parsed: out as ParsedSections, failed };
}

/** Runs `checkProviders`, re-anchoring its `ConfigError` ("<path>: <problem>") under `providers`. */
function checkProvidersFurther(
  providers: Record<string, unknown>,
  check: (providers: Record<string, unknown>) => void,
  problems: LocatedProblem[],
): void {
  try {
    check(providers);
  } catch (err) {
    const { path, problem } = providersProblemOf(err);
    problems.push({ path: path ? `providers.${path}` : 'providers', problem, segments: ['providers', ...parsePath(path)] });
  }
}

/** The segments of a simple path such as `backends[0].api_key_env`. */
function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

function resolveServer(file: ParsedSections['server'], values: ConfigEnvValues, env: ConfigEnv): ServerConfig {
  const server: ServerConfig = {
    host: values.TOKENWARDEN_HOST ?? file?.host ?? CONFIG_DEFAULTS.host,
    port: values.TOKENWARDEN_PORT ?? file?.port ?? CONFIG_DEFAULTS.port,
    bodyLimit: values.TOKENWARDEN_BODY_LIMIT ?? file?.body_limit ?? CONFIG_DEFAULTS.bodyLimit,
    shutdownTimeoutMs: file?.shutdown_timeout_ms ?? CONFIG_DEFAULTS.shutdownTimeoutMs,
    headersTimeoutMs: values.TOKENWARDEN_HEADERS_TIMEOUT_MS ?? file?.headers_timeout_ms ?? CONFIG_DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: values.TOKENWARDEN_REQUEST_TIMEOUT_MS ?? file?.request_timeout_ms ?? CONFIG_DEFAULTS.requestTimeoutMs,
    corsOrigins: values.TOKENWARDEN_CORS_ORIGINS ?? file?.cors_origins ?? [],
  };
  if (server.headersTimeoutMs > server.requestTimeoutMs && file?.request_timeout_ms === undefined && env.TOKENWARDEN_REQUEST_TIMEOUT_MS === undefined) {
    // Only the headers timeout was raised: the whole request may take at least as long.
    server.requestTimeoutMs = server.headersTimeoutMs;
  }
  return server;
}

/** The headers timeout may not exceed the request timeout once both are set (in the file or the environment). */
function checkTimeouts(server: ServerConfig, problems: LocatedProblem[]): void {
  if (server.headersTimeoutMs <= server.requestTimeoutMs) return;
  problems.push({
    path: 'server.headers_timeout_ms',
    problem: `must not exceed server.request_timeout_ms (${server.requestTimeoutMs}); got ${server.headersTimeoutMs}`,
    segments: ['server', 'headers_timeout_ms'],
  });
}

function resolveBudgets(file: ParsedSections['budgets'], values: ConfigEnvValues): BudgetsConfig {
  return {
    defaultMaxTokens: values.TOKENWARDEN_DEFAULT_MAX_TOKENS ?? file?.default_max_tokens ?? CONFIG_DEFAULTS.defaultMaxTokens,
    thresholds: file?.thresholds ?? DEFAULT_THRESHOLDS.map((t) => ({ ...t })),
    requireThread: file?.require_thread ?? false,
    maxThreadsPerOrg: file?.max_threads_per_org ?? CONFIG_DEFAULTS.maxThreadsPerOrg,
    maxThreads: file?.max_threads ?? CONFIG_DEFAULTS.maxThreads,
    threadIdleTtlMs: file?.thread_idle_ttl ?? CONFIG_DEFAULTS.threadIdleTtlMs,
    policies: file?.policies ?? [],
  };
}

function resolveFilePath(path: string, baseDir: string): string {
  return path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path);
}

/** A store word: a postgres:// URL, else an SQLite path. */
function storeFromWord(word: string, baseDir: string): StoreConfig {
  return /^postgres(ql)?:\/\//i.test(word) ? { kind: 'postgres', url: word } : { kind: 'sqlite', path: resolveFilePath(word, baseDir) };
}

function resolveStore(file: ParsedSections['store'], values: ConfigEnvValues, baseDir: string): StoreConfig {
  if (values.TOKENWARDEN_DB !== undefined) return storeFromWord(values.TOKENWARDEN_DB, process.cwd());
  if (file?.postgres !== undefined) {
    return {
      kind: 'postgres',
      url: file.postgres,
      ...(file.table !== undefined ? { table: file.table } : {}),
      ...(file.spool !== undefined ? { spool: resolveFilePath(file.spool, baseDir) } : {}),
    };
  }
  if (file?.sqlite !== undefined) return { kind: 'sqlite', path: resolveFilePath(file.sqlite, baseDir) };
  return { kind: 'sqlite', path: resolveFilePath(CONFIG_DEFAULTS.sqlitePath, process.cwd()) };
}

function resolveLedger(file: ParsedSections['ledger'], values: ConfigEnvValues): LedgerConfig {
  const url = values.TOKENWARDEN_LEDGER ?? file?.url ?? 'memory';
  const ttl = file?.reservation_ttl_ms !== undefined ? { reservationTtlMs: file.reservation_ttl_ms } : {};
  if (url === 'memory') return { kind: 'memory', ...ttl };
  return {
    kind: 'redis',
    url,
    failOpen: file?.fail_open ?? false,
    ...(file?.key_prefix !== undefined ? { keyPrefix: file.key_prefix } : {}),
    ...ttl,
  };
}

/** Name of the alerts outbox file when `alerts_outbox` is not set. */
const OUTBOX_FILE = 'alerts-outbox.jsonl';

/**
 * The alerts outbox: as configured, else beside the store's own local file (the SQLite database, or the
 * PostgreSQL store's spool), so that one directory holds what the gateway keeps; else in `.tokenwarden/`.
 */
function resolveAlertsOutbox(file: string | undefined, store: StoreConfig, baseDir: string): string {
  if (file !== undefined) return resolveFilePath(file, baseDir);
  const local = store.kind === 'sqlite' ? store.path : store.spool;
  if (local !== undefined && local !== ':memory:') return resolve(dirname(local), OUTBOX_FILE);
  return resolve(process.cwd(), '.tokenwarden', OUTBOX_FILE);
}
