import { ORIGIN_RULE, parseOrigin } from '../gateway/edge-guard.js';
import { CONFIG_DEFAULTS, ConfigChecker, describeValue, parseByteSize, type ServerConfig } from './config-schema.js';
import type { ConfigEnv } from './validate-config.js';

const SERVER_KEYS = ['host', 'port', 'body_limit', 'shutdown_timeout_ms', 'headers_timeout_ms', 'request_timeout_ms', 'cors_origins'] as const;
const MIN_BODY_LIMIT = 1024;
const MAX_BODY_LIMIT = 256 * 1024 * 1024;
const MIN_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Checks the `server` section and its environment overrides (`TOKENWARDEN_HOST`, `TOKENWARDEN_PORT`,
 * `TOKENWARDEN_BODY_LIMIT`, `TOKENWARDEN_HEADERS_TIMEOUT_MS`, `TOKENWARDEN_REQUEST_TIMEOUT_MS`,
 * `TOKENWARDEN_CORS_ORIGINS`); `undefined` when it has problems (reported on `c`).
 */
export function checkServer(
  c: ConfigChecker,
  value: unknown,
  env: ConfigEnv,
  overrides: Record<string, string>,
): ServerConfig | undefined {
  const s = c.section(['server'], value, SERVER_KEYS) ?? {};
  const out: ServerConfig = {
    host: CONFIG_DEFAULTS.host,
    port: CONFIG_DEFAULTS.port,
    bodyLimit: CONFIG_DEFAULTS.bodyLimit,
    shutdownTimeoutMs: CONFIG_DEFAULTS.shutdownTimeoutMs,
    headersTimeoutMs: CONFIG_DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: CONFIG_DEFAULTS.requestTimeoutMs,
    corsOrigins: [],
  };
  let ok = true;
  if (s.host !== undefined) out.host = c.string(['server', 'host'], s.host) ?? out.host;
  if (s.port !== undefined) out.port = c.integer(['server', 'port'], s.port, 0, 65535) ?? out.port;
  if (s.body_limit !== undefined) {
    const n = parseByteSize(s.body_limit);
    if (n === undefined || n < MIN_BODY_LIMIT || n > MAX_BODY_LIMIT) {
      c.report(['server', 'body_limit'], `must be a size from 1kb to 256mb, as bytes or like "4mb" (got ${describeValue(s.body_limit)})`);
      ok = false;
    } else out.bodyLimit = n;
  }
  if (s.shutdown_timeout_ms !== undefined) {
    out.shutdownTimeoutMs = c.integer(['server', 'shutdown_timeout_ms'], s.shutdown_timeout_ms, 0) ?? 0;
  }
  if (s.cors_origins !== undefined) out.corsOrigins = checkOrigins(c, s.cors_origins) ?? [];
  if (!checkServerTimeouts(c, s, env, overrides, out)) ok = false;

  const host = env.TOKENWARDEN_HOST;
  if (host !== undefined && host !== '') {
    out.host = host;
    overrides.TOKENWARDEN_HOST = 'server.host';
  }
  const port = env.TOKENWARDEN_PORT;
  if (port !== undefined && port !== '') {
    const n = /^\d{1,5}$/.test(port.trim()) ? Number(port.trim()) : NaN;
    if (!(n >= 0 && n <= 65535)) {
      c.reportEnv('TOKENWARDEN_PORT', `must be an integer from 0 to 65535 (got ${describeValue(port)})`);
      ok = false;
    } else {
      out.port = n;
      overrides.TOKENWARDEN_PORT = 'server.port';
    }
  }
  const limit = env.TOKENWARDEN_BODY_LIMIT;
  if (limit !== undefined && limit !== '') {
    const n = parseByteSize(/^\d+$/.test(limit.trim()) ? Number(limit.trim()) : limit);
    if (n === undefined || n < MIN_BODY_LIMIT || n > MAX_BODY_LIMIT) {
      c.reportEnv('TOKENWARDEN_BODY_LIMIT', `must be a size from 1kb to 256mb (got ${describeValue(limit)})`);
      ok = false;
    } else {
      out.bodyLimit = n;
      overrides.TOKENWARDEN_BODY_LIMIT = 'server.body_limit';
    }
  }
  const origins = env.TOKENWARDEN_CORS_ORIGINS;
  if (origins !== undefined && origins.trim() !== '') {
    const list = origins.split(',').map((o) => o.trim());
    const parsed = list.map(parseOrigin);
    const bad = list.find((_, i) => parsed[i] === undefined);
    if (bad !== undefined) {
      c.reportEnv('TOKENWARDEN_CORS_ORIGINS', `${ORIGIN_RULE} (got ${describeValue(bad)})`);
      ok = false;
    } else {
      out.corsOrigins = parsed as string[];
      overrides.TOKENWARDEN_CORS_ORIGINS = 'server.cors_origins';
    }
  }
  return ok ? out : undefined;
}

function checkOrigins(c: ConfigChecker, value: unknown): string[] | undefined {
  if (!Array.isArray(value)) {
    c.report(['server', 'cors_origins'], `must be a list of origins such as [https://app.example.com] (got ${describeValue(value)})`);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((o: unknown, i) => {
    const origin = parseOrigin(o);
    if (origin === undefined) c.report(['server', 'cors_origins', i], `${ORIGIN_RULE} (got ${describeValue(o)})`);
    else out.push(origin);
  });
  return out;
}

/** `headers_timeout_ms` and `request_timeout_ms` from the file, then the environment; headers <= request. */
function checkServerTimeouts(
  c: ConfigChecker,
  s: Record<string, unknown>,
  env: ConfigEnv,
  overrides: Record<string, string>,
  out: ServerConfig,
): boolean {
  let ok = true;
  const fields = [
    ['headers_timeout_ms', 'headersTimeoutMs', 'TOKENWARDEN_HEADERS_TIMEOUT_MS'],
    ['request_timeout_ms', 'requestTimeoutMs', 'TOKENWARDEN_REQUEST_TIMEOUT_MS'],
  ] as const;
  for (const [key, field, variable] of fields) {
    if (s[key] !== undefined) {
      const n = c.integer(['server', key], s[key], MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
      if (n === undefined) ok = false;
      else out[field] = n;
    }
    const raw = env[variable];
    if (raw !== undefined && raw !== '') {
      const n = /^\d{1,10}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!(n >= MIN_TIMEOUT_MS && n <= MAX_TIMEOUT_MS)) {
        c.reportEnv(variable, `must be an integer from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS} (got ${describeValue(raw)})`);
        ok = false;
      } else {
        out[field] = n;
        overrides[variable] = `server.${key}`;
      }
    }
  }
  if (ok && out.headersTimeoutMs > out.requestTimeoutMs) {
    if (s.request_timeout_ms === undefined && env.TOKENWARDEN_REQUEST_TIMEOUT_MS === undefined) {
      // Only the headers timeout was raised: the whole request may take at least as long.
      out.requestTimeoutMs = out.headersTimeoutMs;
    } else {
      c.report(['server', 'headers_timeout_ms'], `must not exceed server.request_timeout_ms (${out.requestTimeoutMs}); got ${out.headersTimeoutMs}`);
      ok = false;
    }
  }
  return ok;
}
