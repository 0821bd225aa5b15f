import { requireAdmin, resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { badRequest } from '../http-error.js';
import { REFUSAL_HISTORY_MINUTES, refusalSeriesJson } from '../refusal-history.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

const PARAMS = ['minutes', 'step'] as const;

function minutesParam(params: URLSearchParams, name: (typeof PARAMS)[number]): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= REFUSAL_HISTORY_MINUTES)) {
    throw badRequest(name, `${name}: must be a whole number of minutes from 1 to ${REFUSAL_HISTORY_MINUTES} (got ${JSON.stringify(raw.slice(0, 20))})`);
  }
  return n;
}

/**
 * `GET /v1/metrics/refusals?minutes=1440&step=15`: the calls this gateway process refused (4xx answers,
 * by error code) per bucket of `step` minutes over the last `minutes` (default 24 hours, at most 96
 * buckets unless `step` says otherwise). Gateway-wide and per process like `/metrics`, so it needs an
 * admin key when keys are configured (refusals are not recorded per org).
 */
export function refusalHistory(gw: GatewayContext, ex: Exchange): void {
  const { caller } = resolveCaller(gw.keys, ex.req);
  if (gw.keys.enabled) requireAdmin(caller, 'Reading /v1/metrics/refusals');
  const params = new URLSearchParams(ex.query);
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!(PARAMS as readonly string[]).includes(key)) {
      throw badRequest(key, `Unknown query parameter ${JSON.stringify(key)}; allowed: ${PARAMS.join(', ')}`, 'unknown_parameter');
    }
    if (seen.has(key)) throw badRequest(key, `Query parameter ${JSON.stringify(key)} is given more than once`);
    seen.add(key);
  }
  const minutes = minutesParam(params, 'minutes');
  const stepMinutes = minutesParam(params, 'step');
  const series = gw.metrics.refusalHistory.series({ ...(minutes !== undefined ? { minutes } : {}), ...(stepMinutes !== undefined ? { stepMinutes } : {}) });
  sendJson(ex.res, 200, refusalSeriesJson(series));
}
