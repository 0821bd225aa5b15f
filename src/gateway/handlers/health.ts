import type { GatewayContext } from '../gateway-context.js';
import { readyzJson } from '../readiness.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

/** `GET /healthz` (liveness): 200 while serving, 503 once shutting down. No key needed. */
export function healthz(gw: GatewayContext, ex: Exchange): void {
  const closing = gw.lifecycle.closing;
  sendJson(ex.res, closing ? 503 : 200, { status: closing ? 'shutting_down' : 'ok', uptime_s: Math.round((Date.now() - gw.startedAt) / 100) / 10 });
}

/** `GET /readyz`: 503 while the store or the ledger cannot take calls (or while shutting down). No key needed. */
export async function readyz(gw: GatewayContext, ex: Exchange): Promise<void> {
  const state = await gw.readiness.settled();
  const closing = gw.lifecycle.closing;
  // Reasons (file paths, addresses) only for operators: a keyless loopback gateway, or an admin key.
  const detailed = !gw.keys.enabled || gw.keys.isAdmin(ex.req.headers.authorization);
  sendJson(ex.res, closing || !state.ready ? 503 : 200, readyzJson(state, closing, detailed));
}
