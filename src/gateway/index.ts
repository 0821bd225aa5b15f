/**
 * `tokenwarden/gateway`: the OpenAI-compatible HTTP gateway and its YAML configuration, kept out of
 * the package root so that library users never load the HTTP server or the config loader.
 *
 * @example
 * ```ts
 * import { loadConfig, buildRuntime, createGateway } from 'tokenwarden/gateway';
 * const config = await loadConfig({ file: 'tokenwarden.yaml', env: process.env });
 * const rt = await buildRuntime(config, { env: process.env });
 * const gateway = createGateway({ router: rt.router, store: rt.store, keys: rt.keys, models: rt.models });
 * await gateway.listen(config.server.port, config.server.host);
 * ```
 */
export { createGateway, isLoopbackHost, type Gateway, type GatewayOptions, type GatewayModel } from './create-gateway.js';
export { KeyRing, hashGatewayKey, OPEN_PRINCIPAL, type GatewayKey, type Principal } from './key-ring.js';
export { HttpError, toHttpError, type HttpErrorType } from './http-error.js';
export { GatewayMetrics, type GatewayMetricsOptions } from './metrics.js';
export { loadConfig, DEFAULT_CONFIG_FILE, type LoadConfigOptions } from '../config/load-config.js';
export { validateConfig, type ValidateConfigOptions, type ConfigEnv } from '../config/validate-config.js';
export { buildRuntime, providersFromEnv, PROVIDER_KEY_VARIABLES, type Runtime } from '../config/build-runtime.js';
export { InvalidConfigError, type ConfigProblem } from '../config/config-problems.js';
export type {
  TokenwardenConfig,
  ServerConfig,
  BudgetsConfig,
  StoreConfig,
  LedgerConfig,
  KeyConfig,
} from '../config/config-schema.js';
