/**
 * `tokenwarden/gateway`: the OpenAI-compatible HTTP gateway, kept out of the package root so that
 * library users never load the HTTP server. Its YAML configuration is `tokenwarden/server`.
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
export { createGateway, isLoopbackHost, type Gateway, type GatewayOptions, type GatewayModel } from './create-gateway.js';
export { KeyRing, hashGatewayKey, OPEN_PRINCIPAL, type GatewayKey, type Principal } from './key-ring.js';
export { HttpError, toHttpError, type HttpErrorType } from './http-error.js';
export { GatewayMetrics, type GatewayMetricsOptions } from './metrics.js';
