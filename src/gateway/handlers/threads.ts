import { isPlainObject } from '../../core/objects.js';
import { requireAdmin, resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { HttpError, badRequest } from '../http-error.js';
import { readJsonBody } from '../read-body.js';
import { sendJson, threadJson } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { checkClientId, scopedThreadId } from '../thread-scope.js';

const MAX_BUDGET = Number.MAX_SAFE_INTEGER;

function forbidden(message: string): HttpError {
  return new HttpError(403, 'permission_error', 'forbidden', message);
}

function threadNotFound(id: string): HttpError {
  return new HttpError(404, 'not_found_error', 'thread_not_found', `Thread ${JSON.stringify(id)} has no budget (never used, or ended)`, 'id');
}

/** Decodes and validates the `{id}` path segment. */
function threadIdFromPath(segment: string): string {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw badRequest('id', `Thread id in the path is not valid percent-encoding (got ${JSON.stringify(segment.slice(0, 40))})`, 'invalid_id');
  }
  return checkClientId('id', id);
}

/** `GET /v1/threads`: live threads of the caller's org (admins: every org, or `?org_id=`). */
export async function listThreads(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  const params = new URLSearchParams(ex.query);
  let limit = 100;
  let org: string | null | undefined;
  for (const key of params.keys()) {
    if (key !== 'limit' && key !== 'org_id') {
      throw badRequest(key, `Unknown query parameter ${JSON.stringify(key)}; allowed: limit, org_id`, 'unknown_parameter');
    }
  }
  const rawLimit = params.get('limit');
  if (rawLimit !== null) {
    const n = /^\d{1,5}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(n >= 1 && n <= 1000)) throw badRequest('limit', `limit: must be an integer from 1 to 1000 (got ${JSON.stringify(rawLimit)})`);
    limit = n;
  }
  const rawOrg = params.get('org_id');
  if (caller.principal.admin) {
    if (rawOrg !== null) org = checkClientId('org_id', rawOrg);
  } else {
    if (rawOrg !== null && rawOrg !== caller.principal.org) throw forbidden(`This key may only list threads of org ${JSON.stringify(caller.principal.org)}`);
    org = caller.principal.org;
  }
  // Over-fetch a little: threads ended by another instance or expired drop out of the listing.
  const entries = gw.live.recent({ org, limit: limit + 16 });
  const usages = await Promise.all(entries.map((e) => gw.ledger.usage(e.scopedId)));
  const data: Record<string, unknown>[] = [];
  entries.forEach((e, i) => {
    const u = usages[i];
    if (u === undefined) gw.live.delete(e.scopedId);
    else if (data.length < limit) data.push(threadJson(e, u, e.lastActivity));
  });
  sendJson(ex.res, 200, { object: 'list', data, has_more: gw.live.recent({ org, limit: limit + 1 }).length > limit });
}

/** `GET /v1/threads/{id}`: the thread's budget and usage. */
export async function getThread(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  const id = threadIdFromPath(ex.params.id!);
  const scoped = scopedThreadId(caller.org, id);
  const usage = await gw.ledger.usage(scoped);
  if (!usage) throw threadNotFound(id);
  sendJson(ex.res, 200, threadJson({ threadId: id, org: caller.org }, usage, gw.live.get(scoped)?.lastActivity ?? null));
}

/** `PUT /v1/threads/{id}/budget` `{ "max_tokens": N }` (admin only). */
export async function setThreadBudget(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  const id = threadIdFromPath(ex.params.id!);
  requireAdmin(caller, 'Setting a thread budget');
  const body = await readJsonBody(ex.req, gw.bodyLimit);
  if (!isPlainObject(body)) throw badRequest('body', 'body: must be a JSON object like {"max_tokens": 50000}');
  for (const key of Object.keys(body)) {
    if (key !== 'max_tokens') throw badRequest(key, `${key}: unknown field (expected {"max_tokens": N})`, 'unknown_parameter');
  }
  const max = body.max_tokens;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > MAX_BUDGET) {
    throw badRequest('max_tokens', `max_tokens: must be an integer >= 1 (got ${JSON.stringify(max) ?? 'nothing'})`);
  }
  const scoped = scopedThreadId(caller.org, id);
  const usage = await gw.ledger.setBudget(scoped, max);
  gw.live.touch(scoped);
  sendJson(ex.res, 200, threadJson({ threadId: id, org: caller.org }, usage, gw.live.get(scoped)?.lastActivity ?? null));
}

/** `DELETE /v1/threads/{id}`: ends the thread and answers its final usage. */
export async function endThread(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  const id = threadIdFromPath(ex.params.id!);
  const scoped = scopedThreadId(caller.org, id);
  const usage = await gw.ledger.endThread(scoped);
  gw.live.delete(scoped);
  if (!usage) throw threadNotFound(id);
  sendJson(ex.res, 200, { object: 'thread.deleted', id, org_id: caller.org, deleted: true, usage: threadJson({ threadId: id, org: caller.org }, usage, null) });
}

