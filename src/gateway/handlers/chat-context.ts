import type { GatewayContext } from '../gateway-context.js';

/** What the chat handlers use of the gateway: the router, live threads, limits, error and durability hooks. */
export type ChatHandlerContext = Pick<GatewayContext, 'router' | 'live' | 'bodyLimit' | 'requireThread' | 'onError' | 'durable'>;
