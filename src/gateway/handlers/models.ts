import type { Backend } from '../../core/types.js';
import { resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

/** A model listed by `GET /v1/models`. */
export interface GatewayModel {
  id: string;
  ownedBy: string;
}

/** Exact model names (no `*` prefixes) the backends declare, in backend order (the default of `GET /v1/models`). */
export function modelsOf(backends: readonly Backend[]): GatewayModel[] {
  const out: GatewayModel[] = [];
  const seen = new Set<string>();
  for (const b of backends) {
    for (const m of b.models ?? []) {
      if (typeof m === 'string' && !m.includes('*') && !seen.has(m)) {
        seen.add(m);
        out.push({ id: m, ownedBy: b.provider });
      }
    }
  }
  return out;
}

/** `GET /v1/models`: the configured models in OpenAI's list format. */
export function listModels(gw: GatewayContext, ex: Exchange): void {
  resolveCaller(gw.keys, ex.req);
  const created = Math.floor(gw.startedAt / 1000);
  sendJson(ex.res, 200, {
    object: 'list',
    data: gw.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.ownedBy })),
  });
}
