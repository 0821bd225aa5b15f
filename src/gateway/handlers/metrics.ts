import { requireAdmin, resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import type { Exchange } from '../route-table.js';

/** `GET /metrics`: Prometheus text format; needs an admin key when keys are configured. */
export function renderMetrics(gw: GatewayContext, ex: Exchange): void {
  const { caller } = resolveCaller(gw.keys, ex.req);
  if (gw.keys.enabled) requireAdmin(caller, 'Reading /metrics');
  const text = gw.metrics.render();
  ex.res.writeHead(200, { 'content-type': gw.metrics.contentType, 'content-length': Buffer.byteLength(text) });
  ex.res.end(text);
}
