import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { GatewayContext } from './gateway-context.js';
import { toHttpError } from './http-error.js';
import { sendError } from './respond.js';
import { anthropicErrorBody } from './translate/anthropic-errors.js';
import { methodNotAllowed, notFound, type Exchange, type RouteTable } from './route-table.js';
import { recordedStatus } from './server-hooks.js';
import { splitScopedThreadId } from './thread-scope.js';
import { startServerSpan } from '../telemetry/server-span.js';

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
const publicThreadId = (scoped: string): string => splitScopedThreadId(scoped).threadId;
/** `http.route` of a request: its route's path template; none for `unmatched` or `preflight`. */
const httpRoute = (label: string): string | undefined => (label.startsWith('/') ? label : undefined);

/**
 * Finds the request's route and runs its handler. Order (the tests pin it): a static path is labelled
 * for metrics, then the browser checks (a CORS preflight is answered there), then parameterised paths,
 * then 404/405, then the handler (which authenticates, except `/healthz`, `/readyz` and the dashboard).
 */
async function dispatch(gw: GatewayContext, table: RouteTable, ex: Exchange): Promise<void> {
  const method = ex.req.method ?? 'GET';
  let routes = table.static(ex.path);
  // The dashboard's files are labelled only when served (other methods there are a plain 404).
  if (routes && !routes.hidden) ex.route = routes.label;
  if (gw.guard.check(ex.req, ex.res)) {
    ex.route = 'preflight';
    return;
  }
  if (!routes) {
    const match = table.pattern(ex.path);
    if (!match) throw notFound(ex.path);
    routes = match.routes;
    ex.params = match.params;
    ex.route = routes.label;
  }
  const handler = routes.byMethod.get(method);
  if (!handler) throw routes.hidden ? notFound(ex.path) : methodNotAllowed(method, routes.display, routes.allow);
  ex.route = routes.label;
  return handler(gw, ex);
}

/** Answers a failed request: OpenAI-shaped JSON, or (headers already out) just the end of the response. */
function answerError(gw: GatewayContext, ex: Exchange, err: unknown): void {
  const { res } = ex;
  const mapped = toHttpError(err, { publicThreadId });
  gw.onError(err, mapped);
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) res.end();
  else sendError(res, mapped, ex.errorShape === 'anthropic' ? anthropicErrorBody(mapped.status, mapped.message) : mapped.body());
}

/** The server's request listener: counts the request, dispatches it and records its status and duration when it closes. */
export function createRequestListener(gw: GatewayContext, table: RouteTable): (req: IncomingMessage, res: ServerResponse) => void {
  const { lifecycle, metrics } = gw;
  return (req, res) => {
    const start = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ex: Exchange = {
      req,
      res,
      path: q === -1 ? url : url.slice(0, q),
      query: q === -1 ? '' : url.slice(q + 1),
      params: NO_PARAMS,
      route: 'unmatched',
      onClose: undefined,
    };
    lifecycle.begin();
    if (lifecycle.closing) res.setHeader('connection', 'close');
    // A SERVER span continuing the caller's `traceparent` (inert without an OpenTelemetry SDK); the router's
    // call spans start inside it, so they are its children.
    const span = startServerSpan(req.method ?? 'GET', ex.path, req.headers);
    // 'close' is emitted once per response; `on` spares the wrapper `once` allocates.
    res.on('close', () => {
      ex.onClose?.();
      const status = recordedStatus(res);
      metrics.observeRequest({ route: ex.route, status, durationMs: performance.now() - start });
      span.end(httpRoute(ex.route), status);
      lifecycle.end();
    });
    const work = span.run(() => dispatch(gw, table, ex)).then(undefined, (err: unknown) => answerError(gw, ex, err));
    lifecycle.track(work);
  };
}
