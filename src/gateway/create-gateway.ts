import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../core/errors.js';
import { createRequestListener } from './dispatch.js';
import { isLoopbackHost } from './edge-guard.js';
import { createGatewayContext, type GatewayContext } from './gateway-context.js';
import { parseGatewayOptions, type GatewayOptions } from './gateway-options.js';
import type { GatewayModel } from './model-list.js';
import type { GatewayMetrics } from './metrics.js';
import { RouteTable } from './route-table.js';
import { API_ROUTES, ROUTES } from './routes.js';
import { attachServerHooks, checkingIntervalFor } from './server-hooks.js';
import { shutdownGateway } from './shutdown.js';

export { isLoopbackHost, type GatewayModel, type GatewayOptions };

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
  const settings = parseGatewayOptions(options);
  const gw = createGatewayContext(options, settings);
  const table = new RouteTable(options.dashboard !== false ? ROUTES : API_ROUTES);
  const handler = createRequestListener(gw, table);
  const { headersTimeoutMs, requestTimeoutMs } = settings;
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: checkingIntervalFor(headersTimeoutMs, requestTimeoutMs),
    },
    handler,
  );
  const onUnparsed = (status: number): void => gw.metrics.observeRequest({ route: 'unparsed', status, durationMs: 0 });
  attachServerHooks(server, { bodyLimit: settings.bodyLimit, handler, onUnparsed });
  let closePromise: Promise<void> | undefined;
  return {
    server,
    metrics: gw.metrics,
    listen: (port = 4000, host = '127.0.0.1') => listen(gw, server, port, host),
    close(): Promise<void> {
      closePromise ??= shutdownGateway(gw, server, settings.shutdownTimeoutMs, options.closeResources !== false);
      return closePromise;
    },
  };
}

/** Starts listening; refuses a non-loopback host without keys, and a closed gateway. */
function listen(gw: GatewayContext, server: Server, port: number, host: string): Promise<AddressInfo> {
  if (!gw.keys.enabled && !isLoopbackHost(host)) {
    return Promise.reject(
      new ConfigError(
        'server.host',
        `refusing to listen on ${JSON.stringify(host)} without gateway keys: anyone who can reach it could spend your budgets. Configure keys, or listen on 127.0.0.1`,
      ),
    );
  }
  if (gw.lifecycle.closing) return Promise.reject(new ConfigError('', 'the gateway has been closed'));
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
