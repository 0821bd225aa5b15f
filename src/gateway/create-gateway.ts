import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { BudgetLedger } from '../budget/types.js';
import { AllBackendsFailedError, BudgetExhaustedError, ConfigError, LedgerUnavailableError, ProviderError, ValidationError } from '../core/errors.js';
import type { LLMRouter } from '../router/router.js';
import type { UsageStore } from '../usage/usage-store.js';
import type { UsageEvent } from '../usage/types.js';
import { deleteThread, getThread, listThreads, putThreadBudget, threadIdFromPath, usageRoute, type ApiContext } from './api-routes.js';
import { handleChatCompletions, type CallerScope, type ChatHandlerContext } from './chat-completions.js';
import { serveDashboardAsset } from './dashboard/index.js';
import { EdgeGuard, isLoopbackHost, normalizeOrigins } from './edge-guard.js';
import { HttpError, toHttpError } from './http-error.js';
import { KeyRing, type GatewayKey } from './key-ring.js';
import { LiveThreads } from './live-threads.js';
import { GatewayMetrics } from './metrics.js';
import { ReadinessMonitor, readyzJson } from './readiness.js';
import { sendError, sendJson } from './respond.js';
import { ROUTES, methodNotAllowed, modelsOf, notFound, type GatewayModel } from './routes.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, attachServerHooks, checkingIntervalFor, recordedStatus } from './server-hooks.js';
import { UsageCommitter } from '../usage/usage-committer.js';
import { checkClientId, splitScopedThreadId } from './thread-scope.js';

export { isLoopbackHost, type GatewayModel };

/** Options of {@link createGateway}. Only `router` is required. */
export interface GatewayOptions {
  /** The router calls go through; its ledger holds the thread budgets and its tracker meters calls. */
  router: LLMRouter;
  /**
   * Usage store behind `/v1/usage/*`. The gateway writes every event the router's tracker records to it
   * (group commit: one write per event-loop turn) and sends a call's response only once its event is
   * stored. Do not also `attach` the store to the tracker. Without a store the usage routes answer 501.
   */
  store?: UsageStore;
  /**
   * Gateway keys (hashed). None ("keyless mode"): no auth, `listen` refuses non-loopback hosts, and only
   * requests addressed to a loopback `Host` with `application/json` bodies are served (see {@link EdgeGuard}).
   */
  keys?: readonly GatewayKey[];
  /** Largest request body, bytes. Default 4 MiB. */
  bodyLimit?: number;
  /**
   * Longest wait for a request's headers, ms (then 408 and the socket is closed). Default 10 000:
   * a slow or hostile client ("slowloris") holds a socket at most this long.
   */
  headersTimeoutMs?: number;
  /** Longest wait for a whole request (headers and body), ms; at least `headersTimeoutMs`. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * Browser origins (`https://app.example.com`) whose pages may call the gateway (CORS). Default none:
   * requests carrying any other `Origin` than the gateway's own are refused (403), in both modes.
   */
  corsOrigins?: readonly string[];
  /** How often the store's and ledger's readiness is refreshed for `/readyz` and the call gate, ms. Default 2 000. */
  readinessIntervalMs?: number;
  /** Refuse chat calls without `x-thread-id` (400). Default false: they are metered, not budgeted. */
  requireThread?: boolean;
  /** Metrics registry. Default: a new {@link GatewayMetrics}. */
  metrics?: GatewayMetrics;
  /** Serve the dashboard at `GET /`. Default true. */
  dashboard?: boolean;
  /** Models listed by `GET /v1/models`. Default: exact model names found on the router's backends. */
  models?: readonly GatewayModel[];
  /** Most threads kept in the live-thread index (`GET /v1/threads`). Default 10 000. */
  maxLiveThreads?: number;
  /** How long {@link Gateway.close} waits for in-flight requests before cutting them, ms. Default 30 000. */
  shutdownTimeoutMs?: number;
  /** Close the store and the router's ledger in {@link Gateway.close}. Default true. */
  closeResources?: boolean;
  /** Receives unexpected errors (answered 500) and shutdown problems. Default: `console.error`. */
  logError?: (message: string, err: unknown) => void;
}

/** A running (or ready to run) gateway. */
export interface Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  /** Starts listening; resolves with the bound address. Refuses non-loopback hosts when no keys are configured. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight requests (streams included) finish
   * (cut after `shutdownTimeoutMs`), flushes and closes the store, closes the ledger. Idempotent.
   */
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new ValidationError(`options.${name}`, v, `must be an integer >= ${min}`);
  return v;
}

/** Per-request state shared by the dispatcher and the response's single 'close' listener. */
interface RouteState {
  /** Route label for metrics. */
  name: string;
  /** Run when the response closes (the chat handler aborts the call if the client left early). */
  onClose: (() => void) | undefined;
}

/**
 * Creates the tokenwarden HTTP gateway: an OpenAI-compatible `POST /v1/chat/completions` that enforces
 * per-thread budgets through the router, thread and usage APIs, `/metrics`, `/healthz` (liveness),
 * `/readyz` (the store and ledger can take calls; new calls get 503 while they cannot) and the dashboard.
 * Built on `node:http` with no framework.
 *
 * @example
 * ```ts
 * const router = new LLMRouter({ backends: [new MockBackend({ name: 'mock' })], ledger: new MemoryBudgetLedger() });
 * const gateway = createGateway({ router, store: new SqliteUsageStore({ path: 'usage.db' }) });
 * const addr = await gateway.listen(4000, '127.0.0.1');
 * // ... later
 * await gateway.close();
 * ```
 */
export function createGateway(options: GatewayOptions): Gateway {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { router } = options;
  if (!router || typeof router.complete !== 'function' || typeof router.stream !== 'function') {
    throw new ValidationError('options.router', router, 'must be an LLMRouter');
  }
  const bodyLimit = integerOption('bodyLimit', options.bodyLimit, DEFAULT_BODY_LIMIT, 1);
  const shutdownTimeoutMs = integerOption('shutdownTimeoutMs', options.shutdownTimeoutMs, 30_000, 0);
  const maxLiveThreads = integerOption('maxLiveThreads', options.maxLiveThreads, 10_000, 1);
  const headersTimeoutMs = integerOption('headersTimeoutMs', options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, 1);
  const requestTimeoutMs = integerOption('requestTimeoutMs', options.requestTimeoutMs, Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs), 1);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ValidationError('options.headersTimeoutMs', headersTimeoutMs, `must not exceed options.requestTimeoutMs (${requestTimeoutMs})`);
  }
  const readinessIntervalMs = integerOption('readinessIntervalMs', options.readinessIntervalMs, 2000, 10);
  if (options.corsOrigins !== undefined && !Array.isArray(options.corsOrigins)) {
    throw new ValidationError('options.corsOrigins', options.corsOrigins, 'must be an array of origins');
  }
  const keys = new KeyRing(options.keys ?? []);
  const guard = new EdgeGuard({ keyed: keys.enabled, corsOrigins: normalizeOrigins('options.corsOrigins', options.corsOrigins ?? []) });
  const metrics = options.metrics ?? new GatewayMetrics();
  const store = options.store;
  const ledger: BudgetLedger = router.ledger;
  const live = new LiveThreads(maxLiveThreads);
  const dashboard = options.dashboard !== false;
  const models = options.models ?? modelsOf(router);
  const logError = options.logError ?? ((message: string, err: unknown) => console.error(`[tokenwarden] ${message}`, err));
  const startedAt = Date.now();

  const detachers: Array<() => void> = [];
  detachers.push(
    router.tracker.subscribe((e: UsageEvent) =>
      metrics.observeCompletion({
        model: e.model,
        provider: e.provider,
        promptTokens: e.promptTokens,
        completionTokens: e.completionTokens,
        costNanos: e.costNanos,
        latencyMs: e.latencyMs,
        overspendTokens: e.overspendTokens,
      }),
    ),
  );
  // Cached readiness: serving a call never waits on a probe (refreshed on a timer and on failures).
  const readiness = new ReadinessMonitor({ store, ledger, intervalMs: readinessIntervalMs, timeoutMs: Math.max(readinessIntervalMs, 1000) });
  readiness.start();
  const committer = store
    ? new UsageCommitter(store, (err, events) => {
        logError(`writing ${events.length} usage event(s) to the store failed`, err);
        void readiness.refresh();
      })
    : undefined;
  if (committer) detachers.push(router.tracker.subscribe((e: UsageEvent) => committer.add(e)));
  // The ledger knows its own counts; a shared ledger that cannot tell cheaply falls back to this process's index.
  metrics.setGaugeCollector(() => ledger.stats?.() ?? { liveThreads: live.size });

  const onError = (err: unknown, mapped: HttpError): void => {
    if (err instanceof LedgerUnavailableError) void readiness.refresh();
    if (err instanceof BudgetExhaustedError) metrics.budgetRefused();
    else if (err instanceof ProviderError) metrics.providerError({ provider: err.provider, code: err.status ?? err.code });
    else if (err instanceof AllBackendsFailedError) {
      for (const e of err.errors) if (e instanceof ProviderError) metrics.providerError({ provider: e.provider, code: e.status ?? e.code });
    }
    if (mapped.status >= 500 && mapped.code === 'internal_error') logError('internal error while serving a request', err);
  };
  const publicThreadId = (scoped: string): string => splitScopedThreadId(scoped).threadId;
  const durable = (event: UsageEvent): Promise<void> => (committer ? committer.durable(event) : Promise.resolve());
  const chatCtx: ChatHandlerContext = { router, live, bodyLimit, requireThread: options.requireThread === true, onError, durable };
  const flushUsage = async (): Promise<void> => {
    await committer?.flush();
    await store?.flush();
  };
  const apiCtx: ApiContext = { ledger, store, live, bodyLimit, flushUsage };

  let inFlight = 0;
  /**
   * Handlers still running, even after their connection closed: a non-streaming call whose client left is
   * read to its end and billed, so shutdown waits for them before it detaches the store.
   */
  const running = new Set<Promise<void>>();
  let closing = false;
  let idleWaiters: Array<() => void> = [];

  const scopeOf = (req: IncomingMessage): { scope: CallerScope; headerOrg: string | undefined } => {
    const principal = keys.authenticate(req.headers.authorization);
    const raw = req.headers['x-org-id'];
    const headerOrg = typeof raw === 'string' ? checkClientId('x-org-id', raw) : undefined;
    if (!principal.admin) {
      if (headerOrg !== undefined && headerOrg !== principal.org) {
        throw new HttpError(403, 'permission_error', 'org_mismatch', `This key belongs to org ${JSON.stringify(principal.org)}, not ${JSON.stringify(headerOrg)}`, 'x-org-id');
      }
      return { scope: { principal, org: principal.org }, headerOrg };
    }
    return { scope: { principal, org: headerOrg ?? principal.org }, headerOrg };
  };

  const requireAdmin = (scope: CallerScope, what: string): void => {
    if (!scope.principal.admin) throw new HttpError(403, 'permission_error', 'admin_required', `${what} needs an admin key`);
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse, route: RouteState): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const fixed = ROUTES.get(path);
    if (fixed) route.name = fixed.name;
    if (guard.check(req, res)) {
      route.name = 'preflight';
      return;
    }
    if (fixed) {
      if (!fixed.methods.split(', ').includes(method)) throw methodNotAllowed(method, path, fixed.methods);
      if (path === '/healthz') {
        sendJson(res, closing ? 503 : 200, { status: closing ? 'shutting_down' : 'ok', uptime_s: Math.round((Date.now() - startedAt) / 100) / 10 });
        return;
      }
      if (path === '/readyz') {
        const state = await readiness.settled();
        // Reasons (file paths, addresses) only for operators: a keyless loopback gateway, or an admin key.
        sendJson(res, closing || !state.ready ? 503 : 200, readyzJson(state, closing, !keys.enabled || keys.isAdmin(req.headers.authorization)));
        return;
      }
      const { scope, headerOrg } = scopeOf(req);
      const params = () => new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      switch (path) {
        case '/v1/chat/completions':
          // Refused before the body is read and before any provider is called.
          if (!readiness.state.ready) throw readiness.notReadyError();
          return handleChatCompletions(chatCtx, req, res, scope, route);
        case '/v1/models':
          sendJson(res, 200, {
            object: 'list',
            data: models.map((m) => ({ id: m.id, object: 'model', created: Math.floor(startedAt / 1000), owned_by: m.ownedBy })),
          });
          return;
        case '/v1/threads':
          return listThreads(apiCtx, res, scope, params());
        case '/v1/usage/summary':
          return usageRoute(apiCtx, res, scope, 'summary', params(), headerOrg);
        case '/v1/usage/daily':
          return usageRoute(apiCtx, res, scope, 'daily', params(), headerOrg);
        case '/v1/usage/events':
          return usageRoute(apiCtx, res, scope, 'events', params(), headerOrg);
        case '/metrics': {
          if (keys.enabled) requireAdmin(scope, 'Reading /metrics');
          const text = metrics.render();
          res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
          return;
        }
      }
    }
    if (path.startsWith('/v1/threads/')) {
      const rest = path.slice('/v1/threads/'.length);
      const slash = rest.indexOf('/');
      const segment = slash === -1 ? rest : rest.slice(0, slash);
      const tail = slash === -1 ? '' : rest.slice(slash);
      if (tail === '') {
        route.name = '/v1/threads/:id';
        if (method !== 'GET' && method !== 'DELETE') throw methodNotAllowed(method, '/v1/threads/{id}', 'GET, DELETE');
        const { scope } = scopeOf(req);
        const id = threadIdFromPath(segment);
        return method === 'GET' ? getThread(apiCtx, res, scope, id) : deleteThread(apiCtx, res, scope, id);
      }
      if (tail === '/budget') {
        route.name = '/v1/threads/:id/budget';
        if (method !== 'PUT') throw methodNotAllowed(method, '/v1/threads/{id}/budget', 'PUT');
        const { scope } = scopeOf(req);
        return putThreadBudget(apiCtx, req, res, scope, threadIdFromPath(segment));
      }
    }
    if (dashboard && serveDashboardAsset(req, res, path)) {
      route.name = '/';
      return;
    }
    throw notFound(path);
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const start = performance.now();
    const route: RouteState = { name: 'unmatched', onClose: undefined };
    inFlight++;
    if (closing) res.setHeader('connection', 'close');
    // 'close' is emitted once per response; `on` spares the wrapper `once` allocates.
    res.on('close', () => {
      route.onClose?.();
      metrics.observeRequest({ route: route.name, status: recordedStatus(res), durationMs: performance.now() - start });
      if (--inFlight === 0 && idleWaiters.length > 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    });
    const work = dispatch(req, res, route).then(undefined, (err: unknown) => {
      const mapped = toHttpError(err, { publicThreadId });
      onError(err, mapped);
      if (res.destroyed || res.writableEnded) return;
      if (res.headersSent) res.end();
      else sendError(res, mapped);
    });
    running.add(work);
    void work.then(() => running.delete(work));
  };

  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: checkingIntervalFor(headersTimeoutMs, requestTimeoutMs),
    },
    handler,
  );
  const onUnparsed = (status: number): void => metrics.observeRequest({ route: 'unparsed', status, durationMs: 0 });
  attachServerHooks(server, { bodyLimit, handler, onUnparsed });

  let closePromise: Promise<void> | undefined;

  const waitIdle = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (inFlight === 0) return resolve(true);
      const timer = setTimeout(() => {
        idleWaiters = idleWaiters.filter((w) => w !== onIdle);
        resolve(false);
      }, ms);
      const onIdle = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      idleWaiters.push(onIdle);
    });

  async function shutdown(): Promise<void> {
    closing = true;
    readiness.stop();
    const serverClosed = server.listening
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    server.closeIdleConnections();
    const idle = await waitIdle(shutdownTimeoutMs);
    if (!idle) logError(`shutdown: ${inFlight} request(s) still running after ${shutdownTimeoutMs} ms; closing their connections`, undefined);
    server.closeAllConnections();
    await serverClosed;
    if (!(await withinMs(Promise.allSettled([...running]), shutdownTimeoutMs))) {
      logError(`shutdown: ${running.size} call(s) still running after their connections closed; their usage may not be stored`, undefined);
    }
    for (const d of detachers) d();
    metrics.setGaugeCollector(undefined);
    await committer?.close();
    if (options.closeResources !== false) {
      if (store) {
        try {
          await store.flush();
        } catch (err) {
          logError('shutdown: flushing the usage store failed', err);
        }
        await store.close().catch((err: unknown) => logError('shutdown: closing the usage store failed', err));
      }
      // Settles the router retries in the background (its ledger failed mid-call) land before the ledger closes.
      const settled = await withinMs(router.drainSettles(), shutdownTimeoutMs);
      if (!settled) logError(`shutdown: budget settles still being retried after ${shutdownTimeoutMs} ms are dropped`, undefined);
      await ledger.close().catch((err: unknown) => logError('shutdown: closing the budget ledger failed', err));
    }
  }

  return {
    server,
    metrics,
    listen(port = 4000, host = '127.0.0.1'): Promise<AddressInfo> {
      if (!keys.enabled && !isLoopbackHost(host)) {
        return Promise.reject(
          new ConfigError(
            'server.host',
            `refusing to listen on ${JSON.stringify(host)} without gateway keys: anyone who can reach it could spend your budgets. Configure keys, or listen on 127.0.0.1`,
          ),
        );
      }
      if (closing) return Promise.reject(new ConfigError('', 'the gateway has been closed'));
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close(): Promise<void> {
      closePromise ??= shutdown();
      return closePromise;
    },
  };
}

/** Whether `work` settles within `ms` (it is not cancelled either way). */
function withinMs(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    work.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}
