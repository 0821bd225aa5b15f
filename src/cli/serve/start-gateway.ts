import { createGateway, isLoopbackHost, type Gateway } from '../../gateway/index.js';
import { parseRouterConfig } from '../../server/router-config.js';
import { buildRuntime, InvalidConfigError, loadConfig, type ConfigEnv, type Runtime, type TokenwardenConfig } from '../../server/index.js';
import { formatServeBanner } from './banner.js';
import type { ServeArgs } from './serve-args.js';
import type { ServeIO, ServeOptions } from './types.js';
import { errorMessage } from '../../core/error-fields.js';

/**
 * Loads the configuration (command-line `--port`/`--host` over the file and environment), builds the
 * runtime it describes, starts the gateway and prints the banner. Returns the running gateway, or undefined
 * after saying why it did not start (nothing is left running then: the command exits 1).
 */
export async function startGateway(args: ServeArgs, io: ServeIO, options: ServeOptions): Promise<Gateway | undefined> {
  const env = options.env ?? process.env;
  let runtime: Runtime | undefined;
  let gateway: Gateway | undefined;
  try {
    const config = await loadServeConfig(args, env, options.cwd);
    const { host, port } = config.server;
    if (config.keys.length === 0 && !isLoopbackHost(host)) {
      io.stderr(
        `tokenwarden serve: refusing to listen on ${host} without gateway keys: anyone who can reach it could spend your budgets.\n` +
          '  Add keys to the config (keys: [{ name, hash: "sha256:<hex>", org }]) or listen on 127.0.0.1.\n',
      );
      return undefined;
    }
    runtime = await buildRuntime(config, { env });
    gateway = createServeGateway(config, runtime, io);
    const address = await gateway.listen(port, host);
    const url = `http://${hostForUrl(address.address)}:${address.port}`;
    io.stdout(formatServeBanner(config, runtime, url));
    for (const w of runtime.warnings) io.stderr(`tokenwarden serve: warning: ${w}\n`);
    options.onListening?.({ gateway, address, url });
    return gateway;
  } catch (err) {
    if (gateway) await gateway.close().catch(() => undefined);
    else await runtime?.close();
    if (err instanceof InvalidConfigError) io.stderr(`tokenwarden serve: invalid configuration, not starting.\n${err.message}\n`);
    else io.stderr(`tokenwarden serve: cannot start: ${errorMessage(err)}\n`);
    return undefined;
  }
}

async function loadServeConfig(args: ServeArgs, env: ConfigEnv, cwd: string | undefined): Promise<TokenwardenConfig> {
  const config = await loadConfig({
    ...(args.config !== undefined ? { file: args.config } : {}),
    env,
    ...(cwd !== undefined ? { cwd } : {}),
    checkProviders: (p) => void parseRouterConfig(p, { env }),
  });
  if (args.port !== undefined) config.server.port = args.port;
  if (args.host !== undefined) config.server.host = args.host;
  return config;
}

function createServeGateway(config: TokenwardenConfig, runtime: Runtime, io: ServeIO): Gateway {
  return createGateway({
    router: runtime.router,
    store: runtime.store,
    keys: runtime.keys,
    models: runtime.models,
    ...(runtime.policies && runtime.policyLedger
      ? { policies: { guard: runtime.policies, ledger: runtime.policyLedger, ...(runtime.alerts ? { alerts: runtime.alerts } : {}) } }
      : {}),
    bodyLimit: config.server.bodyLimit,
    requireThread: config.budgets.requireThread,
    shutdownTimeoutMs: config.server.shutdownTimeoutMs,
    headersTimeoutMs: config.server.headersTimeoutMs,
    requestTimeoutMs: config.server.requestTimeoutMs,
    corsOrigins: config.server.corsOrigins,
    logError: (message, err) => io.stderr(`[tokenwarden] ${message}${err instanceof Error ? `: ${err.stack ?? err.message}` : ''}\n`),
  });
}

/** An address as a URL host: IPv6 in brackets. */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
