import { serveDashboardAsset } from '../dashboard/index.js';
import type { GatewayContext } from '../gateway-context.js';
import type { Exchange } from '../route-table.js';

/** `GET /` and the dashboard's script, style sheet and icon (static, no key: the page asks for one). */
export function serveDashboard(_gw: GatewayContext, ex: Exchange): void {
  serveDashboardAsset(ex.req, ex.res, ex.path);
}
