import type { BudgetPolicy, PolicyLine, PolicyMatch, PolicyScope, RestorePolicySpend } from '../budget/policy-types.js';
import { ConfigError, ValidationError } from '../core/errors.js';
import type { UsageFilter, UsageStore } from '../usage/usage-store.js';

/** The usage filter field each policy attribute is stored as (see `callSubject` in the router). */
const FIELD: Record<Exclude<PolicyScope, 'global'>, 'threadId' | 'userId' | 'orgId' | 'keyName' | 'agentId' | 'model'> = {
  thread: 'threadId',
  user: 'userId',
  org: 'orgId',
  key: 'keyName',
  agent: 'agentId',
  model: 'model',
};

/**
 * Checks that the store can count every policy's spend: a `match` prefix (a value ending in `*`) can be
 * filtered for `model` only (`modelPrefix`); a prefix on another attribute is refused, naming it.
 */
function checkPolicies(policies: readonly BudgetPolicy[]): void {
  policies.forEach((policy, i) => {
    for (const [attribute, value] of Object.entries(policy.match ?? {})) {
      if (attribute !== 'model' && typeof value === 'string' && value.endsWith('*')) {
        throw new ConfigError(
          `policies[${i}].match.${attribute}`,
          `policy ${JSON.stringify(policy.name)}: a prefix (${JSON.stringify(value)}) can only be restored from the usage store for model; match ${attribute} exactly`,
        );
      }
    }
  });
}

/**
 * The usage filter of a budget line: its window (`since` its start, `until` its reset; a lifetime budget
 * has no end), its entity in its scope's attribute (none for `global`), and the policy's `match` entries.
 * `undefined` when the line cannot hold any event (its entity contradicts the policy's `match`).
 *
 * @example
 * ```ts
 * policyLineFilter({ name: 'mini', scope: 'user', match: { model: 'gpt-4o-mini*' }, maxUsd: 1, window: '1d' }, line);
 * // { since: line.windowStart, until: line.resetsAt, userId: line.entity, modelPrefix: 'gpt-4o-mini' }
 * ```
 */
export function policyLineFilter(policy: BudgetPolicy, line: PolicyLine): UsageFilter | undefined {
  const filter: UsageFilter = { since: line.windowStart };
  if (line.resetsAt !== null) filter.until = line.resetsAt;
  if (line.scope !== 'global') {
    // A qualified user/agent (`acme/u-7`) is stored as org_id acme, user_id u-7.
    const org = line.org;
    filter[FIELD[line.scope]] = org === undefined ? line.entity : line.entity.slice(org.length + 1);
    if (org !== undefined) filter.orgId = org;
  }
  for (const [attribute, value] of Object.entries(policy.match ?? {}) as Array<[keyof PolicyMatch, string | undefined]>) {
    if (value === undefined) continue;
    if (value.endsWith('*')) {
      // checkPolicies let only model prefixes through; `*` alone matches every model.
      if (value.length > 1) filter.modelPrefix = value.slice(0, -1);
      continue;
    }
    const field = FIELD[attribute];
    if (filter[field] !== undefined && filter[field] !== value) return undefined;
    filter[field] = value;
  }
  return filter;
}

/**
 * Restores a budget line's spend from a usage store (what a policy ledger calls for a line it does not
 * hold: after a restart, a Redis restart, or idle eviction): the summary of the events of the line's
 * entity in its window, restricted by its policy's `match`. Since the router settles policies to the
 * recorded event's cost and tokens, this is what the ledger had. Requests are counted too.
 *
 * Throws `ConfigError` up front for a policy with a `match` prefix on another attribute than `model`
 * (the store cannot filter it). Known boundary simplification: an event is counted in the window its
 * timestamp (the call's end) falls in, while the ledger charges the window its hold was taken in.
 *
 * @example
 * ```ts
 * const restore = storePolicyRestorer(store, policies); // the restore function of the policies' ledger
 * await restore(line); // { nanos: 1_250_000, tokens: 5400, requests: 3 }
 * ```
 */
export function storePolicyRestorer(store: Pick<UsageStore, 'summary'>, policies: readonly BudgetPolicy[]): RestorePolicySpend {
  checkPolicies(policies);
  const byName = new Map(policies.map((p) => [p.name, p]));
  return async (line) => {
    const policy = byName.get(line.policy);
    if (!policy) throw new ValidationError('line.policy', line.policy, 'is not one of the policies this restorer was made with');
    const filter = policyLineFilter(policy, line);
    if (!filter) return { nanos: 0, tokens: 0, requests: 0 };
    const { totals } = await store.summary(filter);
    return { nanos: totals.costNanos ?? 0, tokens: totals.totalTokens, requests: totals.requestCount };
  };
}
