import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_THRESHOLDS } from '../budget/types.js';
import {
  CONFIG_DEFAULTS,
  ConfigChecker,
  ID_PATTERN,
  describeValue,
  isPlainObject,
  parsePath,
  parseDuration,
  type BudgetsConfig,
  type KeyConfig,
  type LedgerConfig,
  type PathSegment,
  type StoreConfig,
  type TokenwardenConfig,
} from './config-schema.js';
import { checkServer } from './check-server.js';
import type { ConfigProblem } from './config-problems.js';

/** Environment variables read by the configuration (all optional). */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** Options of {@link validateConfig}. */
export interface ValidateConfigOptions {
  env?: ConfigEnv;
  /** The file the object came from (for `TokenwardenConfig.file`). */
  file?: string;
  /** Directory relative SQLite paths are resolved against. Default: the file's directory, else cwd. */
  baseDir?: string;
  /**
   * Checks the `providers` section (the router's shape) and throws a `ConfigError` whose `path` is
   * relative to that section. Default: accept any mapping (the router checks it when it is built).
   */
  checkProviders?: (providers: Record<string, unknown>) => void;
}

/** The outcome of {@link validateConfig}: a config when there are no problems. */
export type ValidateConfigResult =
  | { ok: true; config: TokenwardenConfig }
  | { ok: false; problems: Array<ConfigProblem & { segments?: PathSegment[] }> };

const TOP_KEYS = ['server', 'providers', 'budgets', 'store', 'ledger', 'keys'] as const;
const BUDGET_KEYS = ['default_max_tokens', 'thresholds', 'require_thread', 'max_threads_per_org', 'max_threads', 'thread_idle_ttl'] as const;
const STORE_KEYS = ['sqlite', 'postgres', 'table', 'spool'] as const;
const LEDGER_KEYS = ['url', 'fail_open', 'key_prefix', 'reservation_ttl_ms'] as const;
const KEY_KEYS = ['name', 'hash', 'org', 'admin'] as const;
const TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

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
  const c = new ConfigChecker();
  const overrides: Record<string, string> = {};
  const baseDir = options.baseDir ?? process.cwd();

  let root: Record<string, unknown> = {};
  if (raw !== undefined && raw !== null) {
    if (!isPlainObject(raw)) c.report([], `the configuration must be a mapping with keys ${TOP_KEYS.join(', ')} (got ${describeValue(raw)})`);
    else root = c.section([], raw, TOP_KEYS) ?? {};
  }

  const server = checkServer(c, root.server, env, overrides);
  const providers = checkProviders(c, root.providers, options.checkProviders);
  const budgets = checkBudgets(c, root.budgets, env, overrides);
  const store = checkStore(c, root.store, env, overrides, baseDir);
  const ledger = checkLedger(c, root.ledger, env, overrides);
  const keys = checkKeys(c, root.keys);

  if (c.problems.length > 0 || !server || !budgets || !store || !ledger || !keys) {
    if (c.problems.length === 0) c.report([], 'invalid configuration');
    return { ok: false, problems: c.problems };
  }
  return {
    ok: true,
    config: { file: options.file, server, providers, budgets, store, ledger, keys, envOverrides: overrides },
  };
}

function checkProviders(
  c: ConfigChecker,
  value: unknown,
  check: ((providers: Record<string, unknown>) => void) | undefined,
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    c.report(['providers'], `must be a mapping { strategy, retries, backends } (got ${describeValue(value)})`);
    return undefined;
  }
  if (check) {
    try {
      check(value);
    } catch (err) {
      const path = typeof (err as { path?: unknown }).path === 'string' ? (err as { path: string }).path : '';
      const message = err instanceof Error ? err.message : String(err);
      // The router's ConfigError reads "<path>: <problem>"; re-anchor it under `providers`.
      const problem = path && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
      c.problems.push({
        path: path ? `providers.${path}` : 'providers',
        problem,
        segments: ['providers', ...parsePath(path)],
      });
    }
  }
  return value;
}

function checkBudgets(
  c: ConfigChecker,
  value: unknown,
  env: ConfigEnv,
  overrides: Record<string, string>,
): BudgetsConfig | undefined {
  const b = c.section(['budgets'], value, BUDGET_KEYS) ?? {};
  const out: BudgetsConfig = {
    defaultMaxTokens: CONFIG_DEFAULTS.defaultMaxTokens,
    thresholds: DEFAULT_THRESHOLDS.map((t) => ({ ...t })),
    requireThread: false,
    maxThreadsPerOrg: CONFIG_DEFAULTS.maxThreadsPerOrg,
    maxThreads: CONFIG_DEFAULTS.maxThreads,
    threadIdleTtlMs: CONFIG_DEFAULTS.threadIdleTtlMs,
  };
  let ok = true;
  if (b.default_max_tokens !== undefined) {
    out.defaultMaxTokens = c.integer(['budgets', 'default_max_tokens'], b.default_max_tokens, 1) ?? 1;
  }
  if (b.thresholds !== undefined) {
    const before = c.problems.length;
    out.thresholds = c.thresholds(['budgets', 'thresholds'], b.thresholds) ?? [];
    if (c.problems.length > before) ok = false;
  }
  if (b.require_thread !== undefined) {
    out.requireThread = c.boolean(['budgets', 'require_thread'], b.require_thread) ?? false;
  }
  if (b.max_threads_per_org !== undefined) {
    out.maxThreadsPerOrg = c.integer(['budgets', 'max_threads_per_org'], b.max_threads_per_org, 1) ?? 1;
  }
  if (b.max_threads !== undefined) out.maxThreads = c.integer(['budgets', 'max_threads'], b.max_threads, 1) ?? 1;
  if (out.maxThreadsPerOrg !== undefined && out.maxThreads !== undefined && out.maxThreadsPerOrg > out.maxThreads) {
    c.report(['budgets', 'max_threads_per_org'], `must not exceed budgets.max_threads (${out.maxThreads}) (got ${out.maxThreadsPerOrg})`);
  }
  if (b.thread_idle_ttl !== undefined) {
    const ms = parseDuration(b.thread_idle_ttl);
    if (ms === undefined || ms < 1_000 || ms > 365 * 86_400_000) {
      c.report(['budgets', 'thread_idle_ttl'], `must be a duration from 1s to 365d with its unit, like "24h", "30m" or "90s" (got ${describeValue(b.thread_idle_ttl)})`);
    } else out.threadIdleTtlMs = ms;
  }
  const max = env.TOKENWARDEN_DEFAULT_MAX_TOKENS;
  if (max !== undefined && max !== '') {
    const n = /^\d+$/.test(max.trim()) ? Number(max.trim()) : NaN;
    if (!(Number.isSafeInteger(n) && n >= 1)) {
      c.reportEnv('TOKENWARDEN_DEFAULT_MAX_TOKENS', `must be an integer >= 1 (got ${describeValue(max)})`);
      ok = false;
    } else {
      out.defaultMaxTokens = n;
      overrides.TOKENWARDEN_DEFAULT_MAX_TOKENS = 'budgets.default_max_tokens';
    }
  }
  return ok ? out : undefined;
}

function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

function isRedisUrl(s: string): boolean {
  return /^rediss?:\/\//i.test(s);
}

function resolveFilePath(path: string, baseDir: string): string {
  return path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path);
}

function checkStore(
  c: ConfigChecker,
  value: unknown,
  env: ConfigEnv,
  overrides: Record<string, string>,
  baseDir: string,
): StoreConfig | undefined {
  let out: StoreConfig | undefined;
  let ok = true;
  if (value !== undefined && value !== null) {
    if (typeof value === 'string') {
      // Shorthand: `store: postgres://…` or `store: ./usage.db`.
      out = isPostgresUrl(value) ? { kind: 'postgres', url: value } : { kind: 'sqlite', path: resolveFilePath(value, baseDir) };
    } else {
      const s = c.section(['store'], value, STORE_KEYS);
      if (!s) ok = false;
      else if (s.sqlite !== undefined && s.postgres !== undefined) {
        c.report(['store'], 'set either sqlite or postgres, not both');
        ok = false;
      } else if (s.sqlite !== undefined) {
        const path = c.string(['store', 'sqlite'], s.sqlite);
        for (const key of ['table', 'spool'] as const) {
          if (s[key] !== undefined) {
            c.report(['store', key], 'only applies to a postgres store');
            ok = false;
          }
        }
        if (path === undefined) ok = false;
        else out = { kind: 'sqlite', path: resolveFilePath(path, baseDir) };
      } else if (s.postgres !== undefined) {
        const url = c.string(['store', 'postgres'], s.postgres, {
          pattern: /^postgres(ql)?:\/\/\S+$/i,
          patternText: 'a postgres:// or postgresql:// URL',
        });
        let table: string | undefined;
        if (s.table !== undefined) {
          table = c.string(['store', 'table'], s.table, { pattern: TABLE_PATTERN, patternText: 'an SQL identifier (letters, digits, _)' });
          if (table === undefined) ok = false;
        }
        let spool: string | undefined;
        if (s.spool !== undefined) {
          spool = c.string(['store', 'spool'], s.spool);
          if (spool === undefined) ok = false;
        }
        if (url === undefined) ok = false;
        else {
          out = { kind: 'postgres', url };
          if (table !== undefined) out.table = table;
          if (spool !== undefined) out.spool = resolveFilePath(spool, baseDir);
        }
      } else {
        c.report(['store'], 'must set sqlite: <path> or postgres: <url>');
        ok = false;
      }
    }
  }

  const db = env.TOKENWARDEN_DB;
  if (db !== undefined && db !== '') {
    out = isPostgresUrl(db) ? { kind: 'postgres', url: db } : { kind: 'sqlite', path: resolveFilePath(db, process.cwd()) };
    overrides.TOKENWARDEN_DB = 'store';
  }
  if (!ok) return undefined;
  return out ?? { kind: 'sqlite', path: resolveFilePath(CONFIG_DEFAULTS.sqlitePath, process.cwd()) };
}

function ledgerFromWord(word: string): LedgerConfig | undefined {
  if (word === 'memory') return { kind: 'memory' };
  if (isRedisUrl(word)) return { kind: 'redis', url: word, failOpen: false };
  return undefined;
}

function checkLedger(
  c: ConfigChecker,
  value: unknown,
  env: ConfigEnv,
  overrides: Record<string, string>,
): LedgerConfig | undefined {
  let out: LedgerConfig | undefined;
  let ok = true;
  const wordProblem = (v: unknown): string => `must be "memory" or a redis:// URL (got ${describeValue(v)})`;
  let failOpen: boolean | undefined;
  let keyPrefix: string | undefined;
  let ttl: number | undefined;
  if (typeof value === 'string') {
    out = ledgerFromWord(value);
    if (!out) {
      c.report(['ledger'], wordProblem(value));
      ok = false;
    }
  } else if (value !== undefined && value !== null) {
    const l = c.section(['ledger'], value, LEDGER_KEYS);
    if (!l) ok = false;
    else {
      if (l.url === undefined) out = { kind: 'memory' };
      else if (typeof l.url !== 'string' || !(out = ledgerFromWord(l.url))) {
        c.report(['ledger', 'url'], wordProblem(l.url));
        ok = false;
      }
      if (l.fail_open !== undefined) failOpen = c.boolean(['ledger', 'fail_open'], l.fail_open);
      if (l.key_prefix !== undefined) {
        keyPrefix = c.string(['ledger', 'key_prefix'], l.key_prefix, { pattern: /^[^\s]{1,64}$/, patternText: 'at most 64 characters without spaces' });
        if (keyPrefix === undefined) ok = false;
      }
      if (l.reservation_ttl_ms !== undefined) {
        ttl = c.integer(['ledger', 'reservation_ttl_ms'], l.reservation_ttl_ms, 1000);
      }
      if (ok && out?.kind === 'memory') {
        if (failOpen !== undefined) {
          c.report(['ledger', 'fail_open'], 'only applies to a redis ledger (the memory ledger cannot be unavailable)');
          ok = false;
        }
        if (keyPrefix !== undefined) {
          c.report(['ledger', 'key_prefix'], 'only applies to a redis ledger');
          ok = false;
        }
      }
    }
  }

  const word = env.TOKENWARDEN_LEDGER;
  if (word !== undefined && word !== '') {
    const fromEnv = ledgerFromWord(word);
    if (!fromEnv) {
      c.reportEnv('TOKENWARDEN_LEDGER', wordProblem(word));
      ok = false;
    } else {
      out = fromEnv;
      overrides.TOKENWARDEN_LEDGER = 'ledger';
    }
  }
  if (!ok) return undefined;
  out ??= { kind: 'memory' };
  if (out.kind === 'redis') {
    out = { ...out, failOpen: failOpen ?? false };
    if (keyPrefix !== undefined) out.keyPrefix = keyPrefix;
  }
  if (ttl !== undefined) out = { ...out, reservationTtlMs: ttl };
  return out;
}

function checkKeys(c: ConfigChecker, value: unknown): KeyConfig[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    c.report(['keys'], `must be a list of { name, hash, org, admin } (got ${describeValue(value)})`);
    return undefined;
  }
  const out: KeyConfig[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  let ok = true;
  value.forEach((item, i) => {
    const at: PathSegment[] = ['keys', i];
    if (item === null || item === undefined) {
      c.report(at, 'must be a mapping { name, hash, org, admin } (got null)');
      ok = false;
      return;
    }
    const k = c.section(at, item, KEY_KEYS);
    if (!k) {
      ok = false;
      return;
    }
    const name = c.string([...at, 'name'], k.name, { pattern: ID_PATTERN, patternText: 'letters, digits and ._:@- (at most 128)' });
    let sha: string | undefined;
    if (typeof k.hash !== 'string' || !/^sha256:[0-9a-fA-F]{64}$/.test(k.hash)) {
      c.report(
        [...at, 'hash'],
        `must be "sha256:" followed by the 64 hex digits of the key's SHA-256 (e.g. from: printf %s "$KEY" | sha256sum) (got ${describeValue(k.hash)})`,
      );
    } else sha = k.hash.slice(7).toLowerCase();
    let admin = false;
    if (k.admin !== undefined) admin = c.boolean([...at, 'admin'], k.admin) ?? false;
    let org: string | null = null;
    if (k.org !== undefined && k.org !== null) {
      org = c.string([...at, 'org'], k.org, { pattern: ID_PATTERN, patternText: 'letters, digits and ._:@- (at most 128)' }) ?? null;
      if (org === null) ok = false;
    } else if (!admin) {
      c.report([...at, 'org'], 'is required (the org whose threads and usage this key sees); only admin keys may omit it');
      ok = false;
    }
    if (name === undefined || sha === undefined) {
      ok = false;
      return;
    }
    const dupName = names.get(name);
    if (dupName !== undefined) {
      c.report([...at, 'name'], `duplicates keys[${dupName}].name (${JSON.stringify(name)})`);
      ok = false;
    }
    const dupHash = hashes.get(sha);
    if (dupHash !== undefined) {
      c.report([...at, 'hash'], `duplicates keys[${dupHash}].hash: two keys would share one secret`);
      ok = false;
    }
    names.set(name, i);
    hashes.set(sha, i);
    out.push({ name, sha256: sha, org, admin });
  });
  return ok ? out : undefined;
}
