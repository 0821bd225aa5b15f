/**
 * `tokenwarden/server`: the YAML configuration and the one place its words become objects (a router, a
 * ledger, a usage store, gateway keys). `tokenwarden serve` is this plus {@link createGateway}.
 *
 * @example
 * ```ts
 * import { loadConfig, buildRuntime } from 'tokenwarden/server';
 * import { createGateway } from 'tokenwarden/gateway';
 * const config = await loadConfig({ file: 'tokenwarden.yaml', env: process.env });
 * const rt = await buildRuntime(config, { env: process.env });
 * const gateway = createGateway({ router: rt.router, store: rt.store, keys: rt.keys, models: rt.models });
 * await gateway.listen(config.server.port, config.server.host);
 * ```
 */
export { loadConfig, DEFAULT_CONFIG_FILE, type LoadConfigOptions } from './load-config.js';
export { validateConfig, type ValidateConfigOptions, type ConfigEnv } from './validate-config.js';
export { buildRuntime, providersFromEnv, PROVIDER_KEY_VARIABLES, type Runtime } from './build-runtime.js';
export { InvalidConfigError, type ConfigProblem } from './config-problems.js';
export type {
  TokenwardenConfig,
  ServerConfig,
  BudgetsConfig,
  StoreConfig,
  LedgerConfig,
  KeyConfig,
} from './config-schema.js';
export { storePolicyRestorer, policyLineFilter } from './policy-restore.js';
