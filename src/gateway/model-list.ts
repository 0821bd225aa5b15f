import type { Backend } from '../core/types.js';

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
