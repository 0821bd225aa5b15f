import type { PolicyLedger, PolicyLine, PolicyMatch, PolicyScope, PolicyStanding } from '../budget/policy-types.js';
import type { Caller } from './caller.js';
import { HttpError } from './http-error.js';

/** What the budgets API needs to know of one policy (a `BudgetPolicies`' normalised policy fits). */
export interface PolicyInfo {
  readonly name: string;
  readonly scope: PolicyScope;
  readonly match?: Readonly<PolicyMatch> | undefined;
  readonly maxUsd?: number | undefined;
  readonly maxTokens?: number | undefined;
  readonly rpm?: number | undefined;
  readonly tpm?: number | undefined;
  /** The window as written (`1d`); absent for a lifetime budget. */
  readonly window?: string | undefined;
  readonly unpriced?: 'refuse' | 'allow' | undefined;
  readonly thresholds?: readonly number[] | undefined;
}

/** The policies the gateway serves over `/v1/budgets` (a `BudgetPolicies` is one). */
export interface PolicyBook {
  readonly policies: readonly PolicyInfo[];
  policy(name: string): PolicyInfo | undefined;
  /** The line of `entity` under the policy at `now` (`meter` default: budget when the policy has one, else rate); `undefined` for no such meter. */
  lineFor(policyName: string, entity: string, now?: number, meter?: PolicyLine['meter']): PolicyLine | undefined;
}

/**
 * The budget policies of a gateway (option `policies`): the policies themselves, for `/v1/budgets`, and the
 * ledger their lines live in. The router enforcing them is given the same object as its `policies`.
 *
 * @example
 * ```ts
 * const policies = new BudgetPolicies({ policies: config.budgets.policies, ledger, prices });
 * const router = new LLMRouter({ backends, ledger: threads, policies });
 * createGateway({ router, store, policies: { guard: policies, ledger } });
 * ```
 */
export interface GatewayPolicies {
  guard: PolicyBook;
  ledger: PolicyLedger;
  /**
   * What delivers the ledger's alerts (a `WebhookAlerts`), if any: closed at shutdown after the ledger, so
   * alerts raised by the last calls are in its outbox.
   */
  alerts?: { close(): Promise<void> };
}

const NANOS_PER_USD = 1e9;
/** Nano-USD as a JSON number of USD (exact to the nano for any amount a budget holds). */
const usd = (nanos: number): number => nanos / NANOS_PER_USD;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A policy as `GET /v1/budgets` lists it (snake_case, absent limits as `null`). */
export function policyJson(p: PolicyInfo): Record<string, unknown> {
  return {
    name: p.name,
    scope: p.scope,
    match: p.match ?? null,
    max_usd: p.maxUsd ?? null,
    max_tokens: p.maxTokens ?? null,
    rpm: p.rpm ?? null,
    tpm: p.tpm ?? null,
    window: p.window ?? null,
    unpriced: p.unpriced ?? (p.maxUsd !== undefined ? 'refuse' : null),
    thresholds: p.thresholds ?? null,
  };
}

function budgetJson(b: PolicyStanding | undefined): Record<string, unknown> {
  if (!b) {
    // A policy with only rpm/tpm meters no budget: nothing is counted over a window for it.
    return { window_start: null, resets_at: null, max_usd: null, spent_usd: null, reserved_usd: null, remaining_usd: null, max_tokens: null, used_tokens: null, reserved_tokens: null, remaining_tokens: null };
  }
  const { nanos, tokens } = b.limits;
  return {
    window_start: b.resetsAt === null ? null : iso(b.windowStart),
    resets_at: iso(b.resetsAt),
    max_usd: nanos === undefined ? null : usd(nanos),
    spent_usd: usd(b.spentNanos),
    reserved_usd: usd(b.reservedNanos),
    remaining_usd: nanos === undefined ? null : usd(Math.max(0, nanos - b.spentNanos - b.reservedNanos)),
    max_tokens: tokens ?? null,
    used_tokens: b.usedTokens,
    reserved_tokens: b.reservedTokens,
    remaining_tokens: tokens === undefined ? null : Math.max(0, tokens - b.usedTokens - b.reservedTokens),
  };
}

function rateJson(r: PolicyStanding): Record<string, unknown> {
  const { requests, tokens } = r.limits;
  const sentRequests = r.requests + r.reservedRequests;
  const sentTokens = r.usedTokens + r.reservedTokens;
  return {
    rpm: requests ?? null,
    requests: sentRequests,
    remaining_requests: requests === undefined ? null : Math.max(0, requests - sentRequests),
    tpm: tokens ?? null,
    tokens: sentTokens,
    remaining_tokens: tokens === undefined ? null : Math.max(0, tokens - sentTokens),
    resets_at: iso(r.resetsAt),
  };
}

/**
 * The JSON of one entity's standing under one policy: `{ policy, scope, entity, window, window_start,
 * resets_at, max_usd, spent_usd, reserved_usd, remaining_usd, max_tokens, used_tokens, reserved_tokens,
 * remaining_tokens }` (USD as numbers, times ISO 8601, `null` for lifetime or an absent limit), plus
 * `rate: { rpm, requests, remaining_requests, tpm, tokens, remaining_tokens, resets_at }` when the policy
 * has rpm/tpm (requests and tokens of the minute, calls in flight included). `entity` is shown as the caller names it.
 */
export function standingJson(p: PolicyInfo, entity: string, budget: PolicyStanding | undefined, rate: PolicyStanding | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { policy: p.name, scope: p.scope, entity, window: p.window ?? null, ...budgetJson(budget) };
  if (rate) out.rate = rateJson(rate);
  return out;
}

/** Where one entity stands under a policy now: its budget and rate lines read from the ledger. */
export async function readStanding(policies: GatewayPolicies, p: PolicyInfo, entity: string, shown: string, now: number): Promise<Record<string, unknown>> {
  const hasBudget = p.maxUsd !== undefined || p.maxTokens !== undefined;
  const hasRate = p.rpm !== undefined || p.tpm !== undefined;
  const budgetLine = hasBudget ? policies.guard.lineFor(p.name, entity, now, 'budget') : undefined;
  const rateLine = hasRate ? policies.guard.lineFor(p.name, entity, now, 'rate') : undefined;
  const [budget, rate] = await Promise.all([
    budgetLine ? policies.ledger.standing(budgetLine) : undefined,
    rateLine ? policies.ledger.standing(rateLine) : undefined,
  ]);
  return standingJson(p, shown, budget, rate);
}

/** `scope`'s id qualified by an org, as budget lines of user, agent and thread entities are named: `acme/u-7`. */
export function qualified(org: string | null, id: string): string {
  return org === null ? id : `${org}/${id}`;
}

/** What an entity path segment means for a caller: the ledger's entity, and how it is shown back. */
export interface EntityAccess {
  entity: string;
  shown: string;
}

function notFound(code: string, message: string, param: string): HttpError {
  return new HttpError(404, 'not_found_error', code, message, param);
}

/**
 * Which entity a caller names with `id` under policy `p`, or why it may not read it. An admin names the
 * entity as the ledger does (`acme/u-7`). An org key names the bare id: a user, agent or thread of its
 * own org (`u-7` → `acme/u-7`); its own org (another org: 403 `forbidden`); a key of its own org (any
 * other name: 404, so that other orgs' key names are not disclosed); any model, and `*` of a global
 * policy (shared limits: readable by every caller).
 */
export function entityFor(caller: Caller, p: PolicyInfo, id: string, keyOrgs: ReadonlyMap<string, string | null>): EntityAccess {
  if (p.scope === 'global' && id !== '*') throw notFound('budget_entity_not_found', `Policy ${JSON.stringify(p.name)} is global: its one entity is "*"`, 'entity');
  if (caller.principal.admin || p.scope === 'model' || p.scope === 'global') return { entity: id, shown: id };
  const org = caller.principal.org;
  switch (p.scope) {
    case 'org':
      if (id !== org) {
        throw new HttpError(403, 'permission_error', 'forbidden', `This key may only read budgets of its own org ${JSON.stringify(org)}, not ${JSON.stringify(id)}`, 'entity');
      }
      return { entity: id, shown: id };
    case 'key':
      if (!keyOrgs.has(id) || keyOrgs.get(id) !== org) {
        throw notFound('budget_entity_not_found', `No key named ${JSON.stringify(id)} in org ${JSON.stringify(org)}`, 'entity');
      }
      return { entity: id, shown: id };
    default:
      return { entity: qualified(org, id), shown: id };
  }
}

/**
 * The entities a caller reads its own standing of in `GET /v1/budgets`: its org (org policies), its key
 * (key policies) and the user `x-user-id` names (user policies, qualified by the caller's org), each only
 * under policies whose `match` on that attribute (and on the org) it satisfies.
 */
export function ownEntities(caller: Caller, user: string | undefined, p: PolicyInfo): EntityAccess | undefined {
  const org = caller.org;
  if (p.match?.org !== undefined && (org === null || !matches(p.match.org, org))) return undefined;
  switch (p.scope) {
    case 'org':
      return org === null ? undefined : { entity: org, shown: org };
    case 'key': {
      const key = caller.principal.keyName;
      return key === null || (p.match?.key !== undefined && !matches(p.match.key, key)) ? undefined : { entity: key, shown: key };
    }
    case 'user':
      if (user === undefined || (p.match?.user !== undefined && !matches(p.match.user, user))) return undefined;
      return { entity: qualified(org, user), shown: caller.principal.admin ? qualified(org, user) : user };
    default:
      return undefined;
  }
}

/** A `match` value against an attribute: exact, or a prefix when it ends in `*`. */
function matches(pattern: string, value: string): boolean {
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}
