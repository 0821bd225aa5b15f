import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayContext } from './gateway-context.js';
import { HttpError } from './http-error.js';

/** One request being served: what the dispatcher learnt about it, and what its handler leaves for the close hook. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The URL's path (no query). */
  readonly path: string;
  /** The URL's query string, without the `?` (`''` when none). */
  readonly query: string;
  /** Values of a parameterised route's `:name` segments, still percent-encoded (`{}` for a static route). */
  params: Readonly<Record<string, string>>;
  /** Route label for metrics (`unmatched` until a route matches). */
  route: string;
  /** Run when the response closes (the chat handler aborts a stream whose client left). */
  onClose: (() => void) | undefined;
  /** The shape errors are answered in: OpenAI's (default), or Anthropic's on the Messages routes. */
  errorShape?: 'anthropic';
}

/** Serves one matched request. Errors it throws are answered by the dispatcher (OpenAI-shaped JSON). */
export type RouteHandler = (gateway: GatewayContext, exchange: Exchange) => Promise<void> | void;

/** One row of the route table. */
export interface Route {
  method: string;
  /** `/v1/models`, or with parameters: `/v1/threads/:id/budget`. */
  path: string;
  handler: RouteHandler;
  /** Metrics label. Default: `path`. */
  label?: string;
  /** Other methods on this path answer 404 instead of 405 (static files). */
  hidden?: boolean;
}

/** Every route of one path. */
export interface PathRoutes {
  readonly label: string;
  readonly hidden: boolean;
  /** The path as shown in a 405 message (`/v1/threads/{id}`). */
  readonly display: string;
  /** The `Allow` header of a 405 (`GET, HEAD`). */
  readonly allow: string;
  readonly byMethod: ReadonlyMap<string, RouteHandler>;
}

interface Pattern {
  /** The literal start of the path, up to its first parameter (`/v1/threads/`): a cheap first test. */
  prefix: string;
  /** The segments after `prefix`: literals, `null` where a parameter goes. */
  segments: ReadonlyArray<string | null>;
  /** Parameter names, in path order. */
  names: readonly string[];
  routes: PathRoutes;
}

function compilePattern(path: string, routes: PathRoutes): Pattern {
  const prefix = path.slice(0, path.indexOf('/:') + 1);
  const parts = path.slice(prefix.length).split('/');
  const names = parts.filter((s) => s.startsWith(':')).map((s) => s.slice(1));
  return { prefix, segments: parts.map((s) => (s.startsWith(':') ? null : s)), names, routes };
}

/**
 * The gateway's routes, indexed for matching: static paths in a `Map` (one lookup), parameterised ones
 * (`/v1/threads/:id`) tried in table order after, segment by segment.
 */
export class RouteTable {
  private readonly statics = new Map<string, PathRoutes>();
  private readonly patterns: Pattern[] = [];

  constructor(routes: readonly Route[]) {
    const byPath = new Map<string, Route[]>();
    for (const r of routes) {
      const list = byPath.get(r.path);
      if (list) list.push(r);
      else byPath.set(r.path, [r]);
    }
    for (const [path, list] of byPath) {
      const entry: PathRoutes = {
        label: list[0]!.label ?? path,
        hidden: list[0]!.hidden === true,
        display: path.replace(/:(\w+)/g, '{$1}'),
        allow: list.map((r) => r.method).join(', '),
        byMethod: new Map(list.map((r) => [r.method, r.handler])),
      };
      if (!path.includes('/:')) this.statics.set(path, entry);
      else this.patterns.push(compilePattern(path, entry));
    }
  }

  /** The routes of a static path. */
  static(path: string): PathRoutes | undefined {
    return this.statics.get(path);
  }

  /** The first parameterised path `path` fits, with its parameters (each segment may be empty). */
  pattern(path: string): { routes: PathRoutes; params: Record<string, string> } | undefined {
    for (const p of this.patterns) {
      if (!path.startsWith(p.prefix) || !fits(p.segments, path, p.prefix.length)) continue;
      const params: Record<string, string> = {};
      let start = p.prefix.length;
      let n = 0;
      for (const s of p.segments) {
        const slash = path.indexOf('/', start);
        const end = slash === -1 ? path.length : slash;
        if (s === null) params[p.names[n++]!] = path.slice(start, end);
        start = end + 1;
      }
      return { routes: p.routes, params };
    }
    return undefined;
  }
}

/** Whether `path` from `start` on has the pattern's segments (allocates nothing). */
function fits(segments: ReadonlyArray<string | null>, path: string, start: number): boolean {
  for (let i = 0; i < segments.length; i++) {
    const slash = path.indexOf('/', start);
    const last = i === segments.length - 1;
    if (last ? slash !== -1 : slash === -1) return false;
    const end = last ? path.length : slash;
    const s = segments[i]!;
    if (s !== null && (end - start !== s.length || !path.startsWith(s, start))) return false;
    start = end + 1;
  }
  return true;
}

export function notFound(path: string): HttpError {
  return new HttpError(404, 'not_found_error', 'route_not_found', `No route for ${JSON.stringify(path.slice(0, 100))}`);
}

export function methodNotAllowed(method: string, path: string, allow: string): HttpError {
  return new HttpError(405, 'invalid_request_error', 'method_not_allowed', `${method} is not allowed on ${path} (allowed: ${allow})`, null, {
    allow,
  });
}
