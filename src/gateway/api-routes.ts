import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BudgetLedger } from '../budget/types.js';
import type { UsageStore } from '../usage/usage-store.js';
import type { CallerScope } from './chat-completions.js';
import { HttpError, badRequest } from './http-error.js';
import type { LiveThreads } from './live-threads.js';
import { readJsonBody } from './read-body.js';
import { sendJson, threadJson } from './respond.js';
import { checkClientId, scopedThreadId } from './thread-scope.js';
import { dailyJson, eventJson, parseUsageParams, summaryJson } from './usage-api.js';

/** What the thread and usage routes need. */
export interface ApiContext {
  ledger: BudgetLedger;
  store: UsageStore | undefined;
  live: LiveThreads;
  bodyLimit: number;
  /** Makes every acknowledged call's event visible to store queries (read-your-writes). */
  flushUsage(): Promise<void>;
}

const MAX_BUDGET = Number.MAX_SAFE_INTEGER;

function forbidden(message: string, code = 'forbidden'): HttpError {
  return new HttpError(403, 'permission_error', code, message);
}

function threadNotFound(id: string): HttpError {
  return new HttpError(404, 'not_found_error', 'thread_not_found', `Thread ${JSON.stringify(id)} has no budget (never used, or ended)`, 'id');
}

/** Decodes and validates the `{id}` path segment. */
export function threadIdFromPath(segment: string): string {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw badRequest('id', `Thread id in the path is not valid percent-encoding (got ${JSON.stringify(segment.slice(0, 40))})`, 'invalid_id');
  }
  return checkClientId('id', id);
}

/** `GET /v1/threads`: live threads of the caller's org (admins: every org, or `?org_id=`). */
export async function listThreads(ctx: ApiContext, res: ServerResponse, scope: CallerScope, params: URLSearchParams): Promise<void> {
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
  if (scope.principal.admin) {
    if (rawOrg !== null) org = checkClientId('org_id', rawOrg);
  } else {
    if (rawOrg !== null && rawOrg !== scope.principal.org) throw forbidden(`This key may only list threads of org ${JSON.stringify(scope.principal.org)}`);
    org = scope.principal.org;
  }
  // Over-fetch a little: threads ended by another instance or expired drop out of the listing.
  const entries = ctx.live.recent({ org, limit: limit + 16 });
  const usages = await Promise.all(entries.map((e) => ctx.ledger.usage(e.scopedId)));
  const data: Record<string, unknown>[] = [];
  entries.forEach((e, i) => {
    const u = usages[i];
    if (u === undefined) ctx.live.delete(e.scopedId);
    else if (data.length < limit) data.push(threadJson(e, u, e.lastActivity));
  });
  sendJson(res, 200, { object: 'list', data, has_more: ctx.live.recent({ org, limit: limit + 1 }).length > limit });
}

/** `GET /v1/threads/{id}`. */
export async function getThread(ctx: ApiContext, res: ServerResponse, scope: CallerScope, id: string): Promise<void> {
  const scoped = scopedThreadId(scope.org, id);
  const usage = await ctx.ledger.usage(scoped);
  if (!usage) throw threadNotFound(id);
  sendJson(res, 200, threadJson({ threadId: id, org: scope.org }, usage, ctx.live.get(scoped)?.lastActivity ?? null));
}

/** `PUT /v1/threads/{id}/budget` `{ "max_tokens": N }` (admin only). */
export async function putThreadBudget(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  scope: CallerScope,
  id: string,
): Promise<void> {
  if (!scope.principal.admin) throw forbidden('Setting a thread budget needs an admin key', 'admin_required');
  const body = await readJsonBody(req, ctx.bodyLimit);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('body', 'body: must be a JSON object like {"max_tokens": 50000}');
  }
  for (const key of Object.keys(body)) {
    if (key !== 'max_tokens') throw badRequest(key, `${key}: unknown field (expected {"max_tokens": N})`, 'unknown_parameter');
  }
  const max = (body as { max_tokens?: unknown }).max_tokens;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > MAX_BUDGET) {
    throw badRequest('max_tokens', `max_tokens: must be an integer >= 1 (got ${JSON.stringify(max) ?? 'nothing'})`);
  }
  const scoped = scopedThreadId(scope.org, id);
  const usage = await ctx.ledger.setBudget(scoped, max);
  ctx.live.touch(scoped);
  sendJson(res, 200, threadJson({ threadId: id, org: scope.org }, usage, ctx.live.get(scoped)?.lastActivity ?? null));
}

/** `DELETE /v1/threads/{id}`: ends the thread and answers its final usage. */
export async function deleteThread(ctx: ApiContext, res: ServerResponse, scope: CallerScope, id: string): Promise<void> {
  const scoped = scopedThreadId(scope.org, id);
  const usage = await ctx.ledger.endThread(scoped);
  ctx.live.delete(scoped);
  if (!usage) throw threadNotFound(id);
  sendJson(res, 200, { object: 'thread.deleted', id, org_id: scope.org, deleted: true, usage: threadJson({ threadId: id, org: scope.org }, usage, null) });
}

/** `GET /v1/usage/{summary|daily|events}` over the store, org-scoped for non-admin keys. */
export async function usageRoute(
  ctx: ApiContext,
  res: ServerResponse,
  scope: CallerScope,
  kind: 'summary' | 'daily' | 'events',
  params: URLSearchParams,
  headerOrg: string | undefined,
): Promise<void> {
  const store = ctx.store;
  if (!store) {
    throw new HttpError(501, 'server_error', 'usage_store_not_configured', 'This gateway has no usage store configured');
  }
  const p = parseUsageParams(params, kind === 'events');
  let org: string | undefined;
  if (scope.principal.admin) org = p.orgId ?? headerOrg;
  else {
    if (p.orgId !== undefined && p.orgId !== scope.principal.org) {
      throw forbidden(`This key may only read usage of org ${JSON.stringify(scope.principal.org)}`);
    }
    org = scope.principal.org ?? undefined;
  }
  const filter = { ...p.filter, ...(org !== undefined ? { orgId: org } : {}) };
  // Stores that write in the background (PostgreSQL) may not have every acknowledged event in the
  // database yet; wait for them so a client always sees the calls it was answered for.
  await ctx.flushUsage();
  if (p.threadId !== undefined) Object.assign(filter, { threadId: scopedThreadId(org ?? null, p.threadId) });
  if (kind === 'summary') {
    sendJson(res, 200, summaryJson(await store.summary(filter)));
  } else if (kind === 'daily') {
    sendJson(res, 200, dailyJson(await store.daily(filter)));
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
