import type { Threshold, ThresholdSeverity } from '../budget/types.js';
import type { ConfigProblem } from './config-problems.js';

/** A segment of a path into the configuration: a key or an array index. */
export type PathSegment = string | number;

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
   * The `providers` section as written (the router's shape, already checked by the router's
   * `parseRouterConfig`), or `undefined` when the file has none: then providers are found from the
   * environment's API keys, or the mock provider serves every model.
   */
  providers: Record<string, unknown> | undefined;
  budgets: BudgetsConfig;
  store: StoreConfig;
  ledger: LedgerConfig;
  keys: KeyConfig[];
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

/** Ids of orgs, threads and keys: letters, digits and `._:@-`, at most 128 characters. */
export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

const SEVERITIES: readonly ThresholdSeverity[] = ['warning', 'critical', 'final'];

/**
 * Collects problems while walking a raw configuration object. Every check names the path and the
 * bad value, and checking goes on after a problem so that one run reports them all.
 */
export class ConfigChecker {
  readonly problems: Array<ConfigProblem & { segments?: PathSegment[] }> = [];

  report(segments: PathSegment[], problem: string): void {
    this.problems.push({ path: formatPath(segments), problem, segments });
  }

  reportEnv(variable: string, problem: string): void {
    this.problems.push({ path: `environment ${variable}`, problem });
  }

  /** An object with only the listed keys; reports unknown ones (with a suggestion) and returns it. */
  section(segments: PathSegment[], value: unknown, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isPlainObject(value)) {
      this.report(segments, `must be a mapping with keys ${allowed.join(', ')} (got ${describeValue(value)})`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        const hint = suggest(key, allowed);
        this.report(
          [...segments, key],
          `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${allowed.join(', ')}`,
        );
      }
    }
    return value;
  }

  string(segments: PathSegment[], value: unknown, opts: { pattern?: RegExp; patternText?: string } = {}): string | undefined {
    if (typeof value !== 'string' || value.length === 0) {
      this.report(segments, `must be a non-empty string (got ${describeValue(value)})`);
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(value)) {
      this.report(segments, `must be ${opts.patternText ?? `a string matching ${opts.pattern}`} (got ${describeValue(value)})`);
      return undefined;
    }
    return value;
  }

  integer(segments: PathSegment[], value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      this.report(segments, `must be an integer ${range} (got ${describeValue(value)})`);
      return undefined;
    }
    return value;
  }

  boolean(segments: PathSegment[], value: unknown): boolean | undefined {
    if (typeof value !== 'boolean') {
      this.report(segments, `must be true or false (got ${describeValue(value)})`);
      return undefined;
    }
    return value;
  }

  thresholds(segments: PathSegment[], value: unknown): Threshold[] | undefined {
    if (!Array.isArray(value)) {
      this.report(segments, `must be a list of { percent, severity } (got ${describeValue(value)})`);
      return undefined;
    }
    const out: Threshold[] = [];
    value.forEach((item, i) => {
      const at = [...segments, i];
      const t = this.section(at, item, ['percent', 'severity']);
      if (!t) {
        if (item === undefined || item === null) this.report(at, 'must be a mapping { percent, severity } (got null)');
        return;
      }
      const percent = t.percent;
      if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
        this.report([...at, 'percent'], `must be a number in (0, 100] (got ${describeValue(percent)})`);
        return;
      }
      const severity = t.severity;
      if (typeof severity !== 'string' || !SEVERITIES.includes(severity as ThresholdSeverity)) {
        this.report([...at, 'severity'], `must be one of ${SEVERITIES.join(', ')} (got ${describeValue(severity)})`);
        return;
      }
      out.push({ percent, severity: severity as ThresholdSeverity });
    });
    for (let i = 1; i < out.length; i++) {
      if (out[i]!.percent <= out[i - 1]!.percent) {
        this.report([...segments, i, 'percent'], 'thresholds must be listed in increasing order of percent');
        break;
      }
    }
    return out;
  }
}

/** `budgets.thresholds[1].percent`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

/** Inverse of {@link formatPath} for paths made of keys and indexes. */
export function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/** A short, safe rendering of a bad value for messages: strings quoted and cut, objects by kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** A plain object (a YAML mapping), not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a byte size: an integer number of bytes, or a string such as `512kb`, `4mb`, `1.5 MiB`
 * (kb = KiB = 1024 bytes). Returns `undefined` if it is not one.
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$/i.exec(value);
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = unit.startsWith('g') ? 1024 ** 3 : unit.startsWith('m') ? 1024 ** 2 : unit.startsWith('k') ? 1024 : 1;
  return Math.floor(Number(m[1]) * mult);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration written with its unit: `1500ms`, `90s`, `30m`, `24h`, `7d` (decimals allowed, e.g.
 * `1.5h`). Returns whole milliseconds, or `undefined` if it is not one (a bare number has no unit and is
 * not accepted: seconds or milliseconds would be a guess).
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(value);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The allowed key closest to `key` (edit distance <= 2), for "did you mean" hints. */
function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
