import { resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

/** `GET /v1/models`: the configured models in OpenAI's list format. */
export function listModels(gw: GatewayContext, ex: Exchange): void {
  resolveCaller(gw.keys, ex.req);
  const created = Math.floor(gw.startedAt / 1000);
  sendJson(ex.res, 200, {
    object: 'list',
    data: gw.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.ownedBy })),
  });
}
