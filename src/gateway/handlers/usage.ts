import type { ServerResponse } from 'node:http';
import { resolveCaller, type Caller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { HttpError, badRequest } from '../http-error.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { scopedThreadId } from '../thread-scope.js';
import { dailyJson, eventJson, hourlyJson, hourlyRange, parseUsageParams, summaryJson } from '../usage-api.js';

type UsageKind = 'summary' | 'daily' | 'hourly' | 'events';

function forbidden(message: string): HttpError {
  return new HttpError(403, 'permission_error', 'forbidden', message);
}

/** `GET /v1/usage/{summary|daily|hourly|events}` over the store, org-scoped for non-admin keys. */
async function usageRoute(
  gw: GatewayContext,
  res: ServerResponse,
  caller: Caller,
  kind: UsageKind,
  params: URLSearchParams,
  headerOrg: string | undefined,
): Promise<void> {
  const store = gw.store;
  if (!store) {
    throw new HttpError(501, 'server_error', 'usage_store_not_configured', 'This gateway has no usage store configured');
  }
  const p = parseUsageParams(params, kind === 'events');
  let org: string | undefined;
  if (caller.principal.admin) org = p.orgId ?? headerOrg;
  else {
    if (p.orgId !== undefined && p.orgId !== caller.principal.org) {
      throw forbidden(`This key may only read usage of org ${JSON.stringify(caller.principal.org)}`);
    }
    org = caller.principal.org ?? undefined;
  }
  const filter = { ...p.filter, ...(org !== undefined ? { orgId: org } : {}) };
  // Stores that write in the background (PostgreSQL) may not have every acknowledged event in the
  // database yet; wait for them so a client always sees the calls it was answered for.
  await gw.flushUsage();
  if (p.threadId !== undefined) Object.assign(filter, { threadId: scopedThreadId(org ?? null, p.threadId) });
  if (kind === 'summary') {
    sendJson(res, 200, summaryJson(await store.summary(filter)));
  } else if (kind === 'daily') {
    sendJson(res, 200, dailyJson(await store.daily(filter)));
  } else if (kind === 'hourly') {
    if (!store.hourly) throw new HttpError(501, 'server_error', 'usage_store_unsupported', 'This gateway\'s usage store has no hourly series');
    const range = hourlyRange(p.filter, Date.now());
    const points = await store.hourly({ ...filter, since: range.since, ...(range.until !== undefined ? { until: range.until } : {}) });
    sendJson(res, 200, hourlyJson(points, range));
  } else {
    let page;
    try {
      page = await store.query({ ...filter, ...(p.limit !== undefined ? { limit: p.limit } : {}), ...(p.cursor !== undefined ? { cursor: p.cursor } : {}) });
    } catch (err) {
      if (p.cursor !== undefined && err instanceof Error && /cursor/i.test(err.message)) {
        throw badRequest('cursor', `cursor: ${err.message}`);
      }
      throw err;
    }
    sendJson(res, 200, {
      object: 'list',
      data: page.events.map(eventJson),
      next_cursor: page.nextCursor ?? null,
      has_more: page.nextCursor !== undefined,
    });
  }
}

function usageHandler(kind: UsageKind): (gw: GatewayContext, ex: Exchange) => Promise<void> {
  return (gw, ex) => {
    const { caller, headerOrg } = resolveCaller(gw.keys, ex.req);
    return usageRoute(gw, ex.res, caller, kind, new URLSearchParams(ex.query), headerOrg);
  };
}

/** `GET /v1/usage/summary`: totals by model, agent and user over the store. */
export const usageSummary = usageHandler('summary');
/** `GET /v1/usage/daily`: totals per UTC day. */
export const usageDaily = usageHandler('daily');
/** `GET /v1/usage/hourly`: totals per UTC hour, by default the last 24 hours, at most 31 days. */
export const usageHourly = usageHandler('hourly');
/** `GET /v1/usage/events`: the events themselves, paged by cursor. */
export const usageEvents = usageHandler('events');
