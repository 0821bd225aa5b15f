/**
 * `tokenwarden serve [--config FILE] [--port N] [--host H]`: loads the configuration, builds the store,
 * ledger and router it describes, starts the gateway and prints a start-up banner; SIGTERM or SIGINT
 * shuts it down gracefully (in-flight requests finish, the store is flushed).
 */
import type { AddressInfo } from 'node:net';
import { InvalidConfigError } from '../server/config-problems.js';
import { buildRuntime, type Runtime } from '../server/build-runtime.js';
import { loadConfig } from '../server/load-config.js';
import type { ConfigEnv } from '../server/validate-config.js';
import { parseRouterConfig } from '../server/router-config.js';
import { createGateway, isLoopbackHost, type Gateway } from '../gateway/create-gateway.js';

/** Where the command writes (the CLI passes stdout/stderr). */
export interface ServeIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Hooks for embedding and tests. All optional. */
export interface ServeOptions {
  /** Environment read for overrides and provider keys. Default `process.env`. */
  env?: ConfigEnv;
  /** Directory `tokenwarden.yaml` is looked for in. Default `process.cwd()`. */
  cwd?: string;
  /** Aborting it shuts the gateway down, like SIGTERM. */
  signal?: AbortSignal;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
  /** Called once the gateway listens. */
  onListening?: (info: { gateway: Gateway; address: AddressInfo; url: string }) => void;
}

const HELP = `Usage: tokenwarden serve [--config FILE] [--port N] [--host H]

Starts the OpenAI-compatible gateway (default http://127.0.0.1:4000).

  --config FILE  YAML configuration (default: ./tokenwarden.yaml when present, or $TOKENWARDEN_CONFIG)
  --port N       Port to listen on (overrides server.port and TOKENWARDEN_PORT; 0 = any free port)
  --host H       Host to listen on (overrides server.host and TOKENWARDEN_HOST)
  -h, --help     Show this help

Environment: TOKENWARDEN_HOST, TOKENWARDEN_PORT, TOKENWARDEN_DB (SQLite path or postgres:// URL),
DATABASE_URL, TOKENWARDEN_LEDGER (memory or redis:// URL), REDIS_URL, TOKENWARDEN_DEFAULT_MAX_TOKENS,
TOKENWARDEN_BODY_LIMIT, TOKENWARDEN_HEADERS_TIMEOUT_MS, TOKENWARDEN_REQUEST_TIMEOUT_MS,
TOKENWARDEN_CORS_ORIGINS (comma-separated); provider keys OPENAI_API_KEY, ANTHROPIC_API_KEY, XAI_API_KEY.
`;

interface ServeArgs {
  config?: string;
  port?: number;
  host?: string;
  help: boolean;
}

function parseArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = { help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq !== -1 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        out.help = true;
        break;
      case '--config':
      case '-c':
        out.config = value();
        break;
      case '--port':
      case '-p': {
        const v = value();
        const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
        if (!(n >= 0 && n <= 65535)) throw new Error(`--port must be an integer from 0 to 65535 (got ${JSON.stringify(v)})`);
        out.port = n;
        break;
      }
      case '--host': {
        const v = value();
        if (v.trim() === '') throw new Error('--host must not be empty');
        out.host = v;
        break;
      }
      default:
        throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return out;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Runs `tokenwarden serve`. Resolves with the exit code once the gateway has shut down (0), or at once
 * with 2 for bad arguments and 1 for a bad configuration or a failed start (nothing is left running).
 *
 * @example
 * ```ts
 * const code = await runServeCommand(['--port', '8080'], { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) });
 * ```
 */
export async function runServeCommand(argv: readonly string[], io: ServeIO, options: ServeOptions = {}): Promise<number> {
  let args: ServeArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.stderr(`tokenwarden serve: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    io.stdout(HELP);
    return 0;
  }
  const env = options.env ?? process.env;

  let runtime: Runtime | undefined;
  let gateway: Gateway | undefined;
  try {
    const config = await loadConfig({
      ...(args.config !== undefined ? { file: args.config } : {}),
      env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      checkProviders: (p) => void parseRouterConfig(p, { env }),
    });
    if (args.port !== undefined) config.server.port = args.port;
    if (args.host !== undefined) config.server.host = args.host;
    const { host, port } = config.server;
    if (config.keys.length === 0 && !isLoopbackHost(host)) {
      io.stderr(
        `tokenwarden serve: refusing to listen on ${host} without gateway keys: anyone who can reach it could spend your budgets.\n` +
          '  Add keys to the config (keys: [{ name, hash: "sha256:<hex>", org }]) or listen on 127.0.0.1.\n',
      );
      return 1;
    }
    runtime = await buildRuntime(config, { env });
    gateway = createGateway({
      router: runtime.router,
      store: runtime.store,
      keys: runtime.keys,
      models: runtime.models,
      bodyLimit: config.server.bodyLimit,
      requireThread: config.budgets.requireThread,
      shutdownTimeoutMs: config.server.shutdownTimeoutMs,
      headersTimeoutMs: config.server.headersTimeoutMs,
      requestTimeoutMs: config.server.requestTimeoutMs,
      corsOrigins: config.server.corsOrigins,
      logError: (message, err) => io.stderr(`[tokenwarden] ${message}${err instanceof Error ? `: ${err.stack ?? err.message}` : ''}\n`),
    });
    const address = await gateway.listen(port, host);
    const url = `http://${hostForUrl(address.address)}:${address.port}`;
    const keysLine =
      config.keys.length === 0
        ? 'none configured: open access, loopback only, JSON bodies and loopback Host names only (WARNING: any local process can use this gateway)'
        : `${config.keys.length} configured (${config.keys.filter((k) => k.admin).length} admin): Authorization: Bearer required`;
    const lines = [
      `tokenwarden gateway listening on ${url}`,
      `  config     ${config.file ?? 'none (defaults and environment)'}`,
      ...Object.entries(config.envOverrides).map(([v, what]) => `  env        ${v} sets ${what}`),
      `  store      ${runtime.describe.store}`,
      `  ledger     ${runtime.describe.ledger}`,
      ...runtime.describe.providers.map((p, i) => `  ${i === 0 ? 'providers ' : '          '} ${p}`),
      `  budgets    ${config.budgets.defaultMaxTokens} tokens per thread by default${config.budgets.requireThread ? '; x-thread-id required' : ''}`,
      `  keys       ${keysLine}`,
      `  browsers   ${config.server.corsOrigins.length === 0 ? 'no web origin may call this gateway (server.cors_origins)' : `CORS for ${config.server.corsOrigins.join(', ')}`}`,
      `  dashboard  ${url}/`,
      `  try        curl ${url}/v1/chat/completions -H 'content-type: application/json' -H 'x-thread-id: demo' \\`,
      `               -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
    ];
    io.stdout(lines.join('\n') + '\n');
    for (const w of runtime.warnings) io.stderr(`tokenwarden serve: warning: ${w}\n`);
    options.onListening?.({ gateway, address, url });
  } catch (err) {
    if (gateway) await gateway.close().catch(() => undefined);
    else await runtime?.close();
    if (err instanceof InvalidConfigError) io.stderr(`tokenwarden serve: invalid configuration, not starting.\n${err.message}\n`);
    else io.stderr(`tokenwarden serve: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }

  const running = gateway;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const handlers: Array<[NodeJS.Signals, () => void]> = [];
    const stop = (why: string): void => {
      if (stopping && why === 'gateway closed') return;
      if (stopping) {
        io.stderr('tokenwarden serve: second signal, cutting in-flight requests\n');
        running.server.closeAllConnections();
        return;
      }
      stopping = true;
      io.stderr(`tokenwarden serve: ${why}, shutting down (finishing in-flight requests)\n`);
      running.close().then(
        () => {
          for (const [sig, h] of handlers) process.off(sig, h);
          options.signal?.removeEventListener('abort', onAbort);
          io.stderr('tokenwarden serve: stopped\n');
          resolve();
        },
        (err: unknown) => {
          io.stderr(`tokenwarden serve: error while shutting down: ${(err as Error).message}\n`);
          resolve();
        },
      );
    };
    const onAbort = (): void => stop('stop requested');
    if (options.handleSignals !== false) {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        const h = (): void => stop(`received ${sig}`);
        handlers.push([sig, h]);
        process.on(sig, h);
      }
    }
    // Someone closed the gateway directly (e.g. through onListening): finish the shutdown and return.
    running.server.once('close', () => stop('gateway closed'));
    if (options.signal) {
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return 0;
}
