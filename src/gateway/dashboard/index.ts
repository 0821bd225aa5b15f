/**
 * The gateway's built-in dashboard: one HTML page plus three same-origin assets, all shipped as
 * strings inside the package (no CDN, no build step, nothing read from disk at runtime).
 *
 * Routes (relative to the gateway root):
 * - `GET /` → the page (`text/html`)
 * - `GET /dashboard/app.js` → the script, `GET /dashboard/app.css` → the styles,
 *   `GET /dashboard/favicon.svg` → the icon
 *
 * The page needs no key to load; its script calls `/v1/usage/summary`, `/v1/usage/daily`, `/v1/usage/hourly`,
 * `/v1/metrics/refusals`, `/v1/budgets` (and `/v1/budgets/{policy}?top=20` per policy) and
 * `/v1/threads` with the key the user pastes (kept in `sessionStorage`, sent as `Authorization: Bearer`).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DASHBOARD_FAVICON } from './favicon.js';
import { DASHBOARD_HTML } from './html.js';
import { DASHBOARD_JS } from './script.js';
import { DASHBOARD_CSS } from './styles.js';

/** One servable dashboard file. */
export interface DashboardAsset {
  contentType: string;
  body: string;
  /** Strong ETag (quoted) of `body`. */
  etag: string;
  /** Every response header to send with it (content type, ETag, caching and security headers). */
  headers: Readonly<Record<string, string>>;
}

/**
 * The Content-Security-Policy sent with the page: everything from the gateway's own origin only, no
 * inline script or style, no framing. The dashboard needs nothing more.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function asset(contentType: string, body: string, extra: Record<string, string> = {}): DashboardAsset {
  const buf = Buffer.from(body, 'utf8');
  const etag = `"${createHash('sha256').update(buf).digest('base64url').slice(0, 22)}"`;
  return Object.freeze({
    contentType,
    body,
    etag,
    headers: Object.freeze({
      'content-type': contentType,
      'content-length': String(buf.length),
      etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...extra,
    }),
  });
}

const PAGE = asset('text/html; charset=utf-8', DASHBOARD_HTML, {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
});

const ASSETS: ReadonlyMap<string, DashboardAsset> = new Map([
  ['/', PAGE],
  ['/index.html', PAGE],
  ['/dashboard/app.js', asset('text/javascript; charset=utf-8', DASHBOARD_JS)],
  ['/dashboard/app.css', asset('text/css; charset=utf-8', DASHBOARD_CSS)],
  ['/dashboard/favicon.svg', asset('image/svg+xml', DASHBOARD_FAVICON)],
]);

/** The paths the dashboard serves (`GET` and `HEAD`). */
export const DASHBOARD_PATHS: readonly string[] = [...ASSETS.keys()];

/**
 * The dashboard page (HTML). Serve it at `GET /` with {@link DASHBOARD_CSP}; it loads its script and
 * styles from `dashboard/…`, served by {@link dashboardAsset}.
 *
 * @example
 * ```ts
 * if (pathname === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(dashboardHtml());
 * ```
 */
export function dashboardHtml(): string {
  return DASHBOARD_HTML;
}

/**
 * The dashboard file at `pathname` (`/`, `/index.html`, `/dashboard/app.js`, `/dashboard/app.css`,
 * `/dashboard/favicon.svg`), or `undefined` when the path is not part of the dashboard.
 * The query string, if any, is ignored.
 *
 * @example
 * ```ts
 * const file = dashboardAsset('/dashboard/app.js');
 * if (file) res.writeHead(200, file.headers).end(file.body);
 * ```
 */
export function dashboardAsset(pathname: string): DashboardAsset | undefined {
  if (typeof pathname !== 'string') return undefined;
  const q = pathname.indexOf('?');
  return ASSETS.get(q === -1 ? pathname : pathname.slice(0, q));
}

/**
 * Serves a dashboard file for a `GET` or `HEAD` request, answering `304` to a matching
 * `If-None-Match`. Returns `false` (and writes nothing) when the request is not for the dashboard,
 * so the caller can fall through to its other routes.
 *
 * @example
 * ```ts
 * http.createServer((req, res) => {
 *   if (serveDashboardAsset(req, res)) return;
 *   // …API routes
 * });
 * ```
 */
export function serveDashboardAsset(req: IncomingMessage, res: ServerResponse, pathname?: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const file = dashboardAsset(pathname ?? req.url ?? '');
  if (!file) return false;
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === file.etag)) {
    const { 'content-length': _len, 'content-type': _type, ...rest } = file.headers;
    res.writeHead(304, rest).end();
    return true;
  }
  res.writeHead(200, file.headers);
  res.end(req.method === 'HEAD' ? undefined : file.body);
  return true;
}
