import type { IncomingMessage, ServerResponse } from 'node:http';
import { ValidationError } from '../core/errors.js';
import { HttpError } from './http-error.js';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** Whether `host` (a listen address or a `Host` name without its port) only reaches this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}

/** The name part of a `Host` header (`[::1]:4000` → `[::1]`, `localhost:4000` → `localhost`). */
function hostName(header: string): string {
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    return end === -1 ? header : header.slice(0, end + 1);
  }
  const colon = header.indexOf(':');
  return colon === -1 ? header : header.slice(0, colon);
}

/** Loopback names a keyless gateway answers to: `localhost`, `127.x.x.x` and `[::1]`, any port. */
function isLoopbackHostHeader(header: string): boolean {
  const name = hostName(header.trim().toLowerCase());
  if (name === 'localhost' || name === '[::1]') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** What a configured browser origin must look like (for error messages). */
export const ORIGIN_RULE = 'must be an origin such as https://app.example.com (scheme, host and optional port; no path, no *)';

/**
 * A browser origin as browsers send it in `Origin` (`scheme://host[:port]`, lower case, default port
 * dropped), or `undefined` if `value` is not one. No path, no trailing slash, no `*`: a wildcard would
 * reopen keyless mode to every page.
 */
export function parseOrigin(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const bare = url.pathname === '/' && !value.endsWith('/') && !url.search && !url.hash && !url.username && !url.password;
  if (!bare || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname.includes('*')) return undefined;
  return url.origin;
}

/** Checks configured origins ({@link parseOrigin}); throws a `ValidationError` naming the first bad one. */
export function normalizeOrigins(field: string, origins: readonly unknown[]): string[] {
  return origins.map((o, i) => {
    const origin = parseOrigin(o);
    if (origin === undefined) throw new ValidationError(`${field}[${i}]`, o, ORIGIN_RULE);
    return origin;
  });
}

/** Headers a browser page may read from answers (budget headers, retry hints). */
const EXPOSED = 'x-budget-limit, x-budget-used, x-budget-remaining, x-budget-reserved, x-budget-threshold, x-thread-id, x-usage-event-id, retry-after';
const METHODS = 'GET, POST, PUT, DELETE';
/** Request-header lists a preflight may ask for: comma-separated header names. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/** What {@link EdgeGuard} enforces. */
export interface EdgeGuardOptions {
  /** True when gateway keys are configured: then `Host` and `Content-Type` are not restricted. */
  keyed: boolean;
  /** Browser origins allowed to call the gateway (CORS); already normalised. */
  corsOrigins: readonly string[];
}

/**
 * The gateway's browser-facing checks, run before routing. Without keys anything that can reach the
 * port can spend budgets, and a web page can reach a loopback port: by a "simple" cross-site POST
 * (`text/plain`, no preflight) or by DNS rebinding (its own name resolving to 127.0.0.1, so the page is
 * same-origin and can read answers). So, in keyless mode:
 * - only a loopback `Host` is answered (421): a rebound name never is;
 * - bodies must be `application/json` (415): a page cannot send that cross-site without a preflight.
 *
 * In both modes a request carrying an `Origin` other than the gateway's own (the dashboard) or one in
 * `corsOrigins` is refused (403), and CORS preflights are answered only for `corsOrigins`. With keys,
 * `Content-Type` stays lenient: a bearer key is never attached by a browser on its own, so a cross-site
 * page cannot spend with it.
 *
 * @example
 * ```ts
 * const guard = new EdgeGuard({ keyed: false, corsOrigins: ['http://localhost:5173'] });
 * if (guard.check(req, res)) return; // a preflight was answered
 * ```
 */
export class EdgeGuard {
  private readonly origins: ReadonlySet<string>;

  constructor(private readonly options: EdgeGuardOptions) {
    this.origins = new Set(options.corsOrigins);
  }

  /**
   * Throws an {@link HttpError} for a request that must not be served; answers a CORS preflight and
   * returns true; otherwise sets the CORS answer headers (for an allowed origin) and returns false.
   */
  check(req: IncomingMessage, res: ServerResponse): boolean {
    const host = req.headers.host;
    if (!this.options.keyed && (host === undefined || !isLoopbackHostHeader(host))) {
      throw new HttpError(
        421,
        'invalid_request_error',
        'host_not_allowed',
        `${host === undefined ? 'The request has no Host header, so it' : `Host ${JSON.stringify(host.slice(0, 100))}`} is not a loopback name. This gateway has no keys, so it only answers requests addressed to localhost, 127.0.0.1 or [::1] (protection against DNS rebinding); configure keys to serve other names`,
        'host',
      );
    }
    const origin = req.headers.origin;
    const allowed = origin !== undefined && this.origins.has(origin);
    if (origin !== undefined && !allowed && !isSameOrigin(origin, host)) {
      throw new HttpError(
        403,
        'permission_error',
        'origin_not_allowed',
        `Requests from the web origin ${JSON.stringify(origin.slice(0, 100))} are not allowed; list it in server.cors_origins to let its pages call this gateway`,
        'origin',
      );
    }
    if (req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
      if (!allowed) throw corsRefused(origin);
      const asked = req.headers['access-control-request-headers'];
      res.writeHead(204, {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': METHODS,
        ...(asked !== undefined && HEADER_LIST.test(asked) ? { 'access-control-allow-headers': asked } : {}),
        'access-control-max-age': '600',
        vary: 'origin, access-control-request-method, access-control-request-headers',
        'content-length': '0',
      });
      res.end();
      return true;
    }
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', EXPOSED);
      res.setHeader('vary', 'origin');
    }
    if (!this.options.keyed && hasBody(req)) checkJson(req);
    return false;
  }
}

function corsRefused(origin: string): HttpError {
  return new HttpError(403, 'permission_error', 'origin_not_allowed', `CORS preflight from ${JSON.stringify(origin.slice(0, 100))} refused: not in server.cors_origins`, 'origin');
}

/** Whether a page served by this gateway (the dashboard) sent the request: its origin names our Host. */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const h = host.toLowerCase();
  return origin.toLowerCase() === `http://${h}` || origin.toLowerCase() === `https://${h}`;
}

/** POST/PUT/PATCH, or anything that declares a body. */
function hasBody(req: IncomingMessage): boolean {
  const m = req.method;
  if (m === 'POST' || m === 'PUT' || m === 'PATCH') return true;
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function checkJson(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  const media = type?.split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/json') return;
  throw new HttpError(
    415,
    'invalid_request_error',
    'unsupported_media_type',
    `Content-Type must be application/json (got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))}); send the header content-type: application/json`,
    'content-type',
  );
}
