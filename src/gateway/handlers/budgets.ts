import { parseWindow, windowAt } from '../../budget/windows.js';
import { isPlainObject } from '../../core/objects.js';
import { entityFor, ownEntities, policyJson, readStanding, standingJson, type GatewayPolicies, type PolicyInfo } from '../budgets-api.js';
import { requireAdmin, resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { HttpError, badRequest } from '../http-error.js';
import { readJsonBody } from '../read-body.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

const DEFAULT_TOP = 20;
const MAX_TOP = 1000;
/** Largest `max_usd` of an override: the limit is counted in integer nano-USD. */
const MAX_USD = Math.floor(Number.MAX_SAFE_INTEGER / 1e9);
const MAX_ENTITY = 512;

function policiesOf(gw: GatewayContext): GatewayPolicies {
  if (!gw.policies) throw new HttpError(404, 'not_found_error', 'no_budget_policies', 'This gateway has no budget policies (budgets.policies in its config)');
  return gw.policies;
}

/** Decodes a path segment; a 400 naming `param` when it is not valid percent-encoding or not a plausible id. */
function segment(param: string, raw: string): string {
  let v: string;
  try {
    v = decodeURIComponent(raw);
  } catch {
    throw badRequest(param, `${param} in the path is not valid percent-encoding (got ${JSON.stringify(raw.slice(0, 40))})`, 'invalid_id');
  }
  // eslint-disable-next-line no-control-regex
  if (v.length === 0 || v.length > MAX_ENTITY || /[\x00-\x1f\x7f]/.test(v)) {
    throw badRequest(param, `${param}: must be 1-${MAX_ENTITY} characters without control characters`, 'invalid_id');
  }
  return v;
}

function policyNamed(policies: GatewayPolicies, raw: string): PolicyInfo {
  const name = segment('policy', raw);
  const p = policies.guard.policy(name);
  if (!p) throw new HttpError(404, 'not_found_error', 'policy_not_found', `No budget policy named ${JSON.stringify(name)} (GET /v1/budgets lists them)`, 'policy');
  return p;
}

function noQuery(ex: Exchange): void {
  for (const key of new URLSearchParams(ex.query).keys()) throw badRequest(key, `Unknown query parameter ${JSON.stringify(key)}`, 'unknown_parameter');
}

/** `GET /v1/budgets`: the policies, and where the caller's own org, key and user (`x-user-id`) stand. */
export async function listBudgets(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  noQuery(ex);
  const policies = policiesOf(gw);
  const raw = ex.req.headers['x-user-id'];
  const user = typeof raw === 'string' ? raw : undefined;
  if (user !== undefined && !/^[\x20-\x7e]{1,256}$/.test(user)) {
    throw badRequest('x-user-id', `x-user-id: must be 1-256 printable ASCII characters (got ${JSON.stringify(user.slice(0, 40))})`, 'invalid_id');
  }
  const now = Date.now();
  const data = await Promise.all(
    policies.guard.policies.flatMap((p) => {
      const own = ownEntities(caller, user, p);
      return own ? [readStanding(policies, p, own.entity, own.shown, now)] : [];
    }),
  );
  sendJson(ex.res, 200, { object: 'list', policies: policies.guard.policies.map(policyJson), data });
}

/** `GET /v1/budgets/{policy}?top=N` (admin): the policy's entities with the most spent in the current window. */
export async function topBudgets(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  requireAdmin(caller, 'Listing a policy\'s entities');
  const policies = policiesOf(gw);
  const p = policyNamed(policies, ex.params.policy!);
  const params = new URLSearchParams(ex.query);
  let top = DEFAULT_TOP;
  for (const [key, value] of params) {
    if (key !== 'top') throw badRequest(key, `Unknown query parameter ${JSON.stringify(key)}; allowed: top`, 'unknown_parameter');
    const n = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= MAX_TOP)) throw badRequest('top', `top: must be an integer from 1 to ${MAX_TOP} (got ${JSON.stringify(value.slice(0, 20))})`);
    top = n;
  }
  const now = Date.now();
  let data: Record<string, unknown>[] = [];
  if (p.maxUsd !== undefined || p.maxTokens !== undefined) {
    const windowStart = p.window === undefined ? 0 : windowAt(parseWindow(p.window), now).start;
    const lines = await policies.ledger.top(p.name, windowStart, top);
    const hasRate = p.rpm !== undefined || p.tpm !== undefined;
    data = await Promise.all(
      lines.map(async (b) => {
        const rateLine = hasRate ? policies.guard.lineFor(p.name, b.entity, now, 'rate') : undefined;
        return standingJson(p, b.entity, b, rateLine ? await policies.ledger.standing(rateLine) : undefined);
      }),
    );
  }
  sendJson(ex.res, 200, { object: 'list', policy: p.name, data });
}

/** `GET /v1/budgets/{policy}/{entity}`: where one entity stands (an org key: only its own org's). */
export async function getBudget(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  noQuery(ex);
  const policies = policiesOf(gw);
  const p = policyNamed(policies, ex.params.policy!);
  const { entity, shown } = entityFor(caller, p, segment('entity', ex.params.entity!), gw.keyOrgs);
  sendJson(ex.res, 200, await readStanding(policies, p, entity, shown, Date.now()));
}

/** The `{ max_usd?, max_tokens? }` of a PUT, checked field by field. */
function overrideBody(body: unknown): { maxNanos?: number; maxTokens?: number } {
  const example = '{"max_usd": 10, "max_tokens": 500000}';
  if (!isPlainObject(body)) throw badRequest('body', `body: must be a JSON object like ${example}`);
  for (const key of Object.keys(body)) {
    if (key !== 'max_usd' && key !== 'max_tokens') throw badRequest(key, `${key}: unknown field (expected ${example}, either or both)`, 'unknown_parameter');
  }
  const out: { maxNanos?: number; maxTokens?: number } = {};
  if (body.max_usd !== undefined) {
    const v = body.max_usd;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_USD) {
      throw badRequest('max_usd', `max_usd: must be a positive number of USD, at most ${MAX_USD} (got ${JSON.stringify(v)})`);
    }
    out.maxNanos = Math.round(v * 1e9);
  }
  if (body.max_tokens !== undefined) {
    const v = body.max_tokens;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw badRequest('max_tokens', `max_tokens: must be an integer >= 1 (got ${JSON.stringify(v)})`);
    out.maxTokens = v;
  }
  if (out.maxNanos === undefined && out.maxTokens === undefined) throw badRequest('body', `body: must set max_usd, max_tokens or both (like ${example})`);
  return out;
}

/** `PUT /v1/budgets/{policy}/{entity}` `{ max_usd?, max_tokens? }` (admin): overrides the entity's budget limits. */
export async function setBudget(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  requireAdmin(caller, 'Setting a budget override');
  const policies = policiesOf(gw);
  const p = policyNamed(policies, ex.params.policy!);
  const { entity, shown } = entityFor(caller, p, segment('entity', ex.params.entity!), gw.keyOrgs);
  const limits = overrideBody(await readJsonBody(ex.req, gw.bodyLimit));
  if (p.maxUsd === undefined && p.maxTokens === undefined) {
    throw badRequest('policy', `Policy ${JSON.stringify(p.name)} limits only rpm/tpm: it has no max_usd or max_tokens budget to override`, 'no_budget_to_override');
  }
  await policies.ledger.setOverride({ policy: p.name, entity, ...limits });
  sendJson(ex.res, 200, await readStanding(policies, p, entity, shown, Date.now()));
}

/** `DELETE /v1/budgets/{policy}/{entity}` (admin): removes the entity's override (404 when it has none). */
export async function deleteBudget(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  requireAdmin(caller, 'Deleting a budget override');
  const policies = policiesOf(gw);
  const p = policyNamed(policies, ex.params.policy!);
  const { entity, shown } = entityFor(caller, p, segment('entity', ex.params.entity!), gw.keyOrgs);
  if (!(await policies.ledger.deleteOverride(p.name, entity))) {
    throw new HttpError(404, 'not_found_error', 'override_not_found', `${p.scope} ${JSON.stringify(shown)} has no override of policy ${JSON.stringify(p.name)}`, 'entity');
  }
  const standing = await readStanding(policies, p, entity, shown, Date.now());
  sendJson(ex.res, 200, { object: 'budget.override.deleted', policy: p.name, entity: shown, deleted: true, budget: standing });
}
