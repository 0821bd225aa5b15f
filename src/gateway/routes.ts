import type { LLMRouter } from '../router/router.js';
import { HttpError } from './http-error.js';

/** A model listed by `GET /v1/models`. */
export interface GatewayModel {
  id: string;
  ownedBy: string;
}

/** A fixed route: its metrics label and the methods it answers. */
export interface Route {
  name: string;
  methods: string;
}

const route = (name: string, methods: string): [string, Route] => [name, { name, methods }];

/** The gateway's fixed paths (thread paths with an id are matched by prefix). */
export const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  route('/v1/chat/completions', 'POST'),
  route('/v1/models', 'GET'),
  route('/v1/threads', 'GET'),
  route('/v1/usage/summary', 'GET'),
  route('/v1/usage/daily', 'GET'),
  route('/v1/usage/events', 'GET'),
  route('/healthz', 'GET, HEAD'),
  route('/readyz', 'GET, HEAD'),
  route('/metrics', 'GET'),
]);

export function notFound(path: string): HttpError {
  return new HttpError(404, 'not_found_error', 'route_not_found', `No route for ${JSON.stringify(path.slice(0, 100))}`);
}

export function methodNotAllowed(method: string, path: string, allow: string): HttpError {
  return new HttpError(405, 'invalid_request_error', 'method_not_allowed', `${method} is not allowed on ${path} (allowed: ${allow})`, null, {
    allow,
  });
}

/** Exact model names found on the router's backends (the default of `GET /v1/models`). */
export function modelsOf(router: LLMRouter): GatewayModel[] {
  const out: GatewayModel[] = [];
  const seen = new Set<string>();
  for (const b of router.backends) {
    const models = (b as unknown as { models?: unknown }).models;
    const list = typeof models === 'string' ? [models] : Array.isArray(models) ? models : [];
    for (const m of list) {
      if (typeof m === 'string' && !m.includes('*') && !seen.has(m)) {
        seen.add(m);
        out.push({ id: m, ownedBy: b.provider });
      }
    }
  }
  return out;
}
