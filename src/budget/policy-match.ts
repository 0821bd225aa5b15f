import type { NormalizedPolicy } from './policy-schema.js';
import type { CallSubject, LineLimits, PolicyLine, PolicyMatch } from './policy-types.js';
import { windowAt, type BudgetWindow, type WindowSpan } from './windows.js';

/** The UTC minute: the window of every rate meter. */
const MINUTE: BudgetWindow = Object.freeze({ count: 1, unit: 'm' });
const NO_THRESHOLDS: readonly number[] = Object.freeze([]);

type Attribute = keyof PolicyMatch;

/** One `match` entry, compiled: the attribute, and its value (exact) or prefix (a value ending in `*`). */
interface MatchTest {
  attribute: Attribute;
  value: string;
  prefix: boolean;
}

/**
 * A policy compiled for the hot path: which calls it applies to (its scope attribute present, every
 * `match` entry matching) and its lines for an entity at a time, with the window span cached until it
 * ends (a `1mo` window is computed once a month, not per call) and limits shared (frozen) by every line.
 *
 * @example
 * ```ts
 * const compiled = new PolicyMatcher(parsePolicies([{ name: 'acme', scope: 'org', match: { model: 'gpt-4o*' }, maxUsd: 5 }])[0]!);
 * compiled.entityOf({ model: 'gpt-4o-mini', org: 'acme' }); // 'acme'
 * compiled.entityOf({ model: 'claude-3', org: 'acme' }); // undefined
 * compiled.lines('acme', Date.now(), true); // [the budget line]
 * ```
 */
export class PolicyMatcher {
  private readonly tests: readonly MatchTest[];
  private readonly budgetLimits: LineLimits | undefined;
  private readonly rateLimits: LineLimits | undefined;
  /** Whether the budget meter counts USD (then an unpriced model matters). */
  readonly limitsUsd: boolean;
  private budgetSpan: WindowSpan | undefined;
  private rateSpan: WindowSpan | undefined;

  constructor(readonly policy: NormalizedPolicy) {
    this.tests = Object.entries(policy.match ?? {}).map(([attribute, value]) => {
      const prefix = value.endsWith('*');
      return { attribute: attribute as Attribute, value: prefix ? value.slice(0, -1) : value, prefix };
    });
    const budget: LineLimits = {};
    if (policy.maxNanos !== undefined) budget.nanos = policy.maxNanos;
    if (policy.maxTokens !== undefined) budget.tokens = policy.maxTokens;
    this.budgetLimits = Object.keys(budget).length > 0 ? Object.freeze(budget) : undefined;
    const rate: LineLimits = {};
    if (policy.rpm !== undefined) rate.requests = policy.rpm;
    if (policy.tpm !== undefined) rate.tokens = policy.tpm;
    this.rateLimits = Object.keys(rate).length > 0 ? Object.freeze(rate) : undefined;
    this.limitsUsd = policy.maxNanos !== undefined;
  }

  /**
   * The entity the call is counted as (`*` for `global`; a `user` or `agent` qualified by the call's org,
   * `acme/u-7`), or `undefined` when the policy does not apply to it. `match` compares the bare ids.
   */
  entityOf(subject: CallSubject): string | undefined {
    const scope = this.policy.scope;
    const entity = scope === 'global' ? '*' : subject[scope];
    if (typeof entity !== 'string' || entity === '') return undefined;
    for (const test of this.tests) {
      const value = subject[test.attribute];
      if (typeof value !== 'string') return undefined;
      if (test.prefix ? !value.startsWith(test.value) : value !== test.value) return undefined;
    }
    if ((scope === 'user' || scope === 'agent') && typeof subject.org === 'string' && subject.org !== '') return `${subject.org}/${entity}`;
    return entity;
  }

  /** Whether the policy has a `budget` meter (`maxUsd`/`maxTokens`) and a `rate` meter (`rpm`/`tpm`). */
  has(meter: PolicyLine['meter']): boolean {
    return (meter === 'budget' ? this.budgetLimits : this.rateLimits) !== undefined;
  }

  /** Appends to `out` the entity's lines at `now`: the budget line (with `priced`), then the rate line. */
  lines(entity: string, now: number, priced: boolean, out: PolicyLine[] = []): PolicyLine[] {
    const budget = this.line('budget', entity, now, priced);
    if (budget !== undefined) out.push(budget);
    const rate = this.line('rate', entity, now, true);
    if (rate !== undefined) out.push(rate);
    return out;
  }

  /** The entity's line of one meter at `now`, or `undefined` when the policy has no such meter. */
  line(meter: PolicyLine['meter'], entity: string, now: number, priced: boolean): PolicyLine | undefined {
    const { name, scope, budgetWindow, thresholds } = this.policy;
    const org = qualifyingOrg(scope, entity);
    if (meter === 'budget') {
      if (this.budgetLimits === undefined) return undefined;
      const span = budgetWindow === undefined ? undefined : (this.budgetSpan = spanAt(budgetWindow, now, this.budgetSpan));
      return {
        policy: name, scope, entity, org, meter, windowStart: span?.start ?? 0, resetsAt: span?.resetsAt ?? null,
        window: budgetWindow, limits: this.budgetLimits, priced: priced || !this.limitsUsd, thresholds,
      };
    }
    if (this.rateLimits === undefined) return undefined;
    const span = (this.rateSpan = spanAt(MINUTE, now, this.rateSpan));
    return {
      policy: name, scope, entity, org, meter, windowStart: span.start, resetsAt: span.resetsAt,
      window: MINUTE, limits: this.rateLimits, priced: true, thresholds: NO_THRESHOLDS,
    };
  }
}

/**
 * The org of a qualified `user`/`agent` entity (`acme` of `acme/u-7`; org ids hold no `/`), else `undefined`.
 * A keyless caller's bare user id containing `/` reads as qualified here: only its restore (by org and id)
 * differs, and a gateway without keys does not separate tenants anyway.
 */
function qualifyingOrg(scope: PolicyLine['scope'], entity: string): string | undefined {
  if (scope !== 'user' && scope !== 'agent') return undefined;
  const slash = entity.indexOf('/');
  return slash > 0 ? entity.slice(0, slash) : undefined;
}

/** The span holding `now`: `cached` when it still does (clocks may step back, so both ends are checked). */
function spanAt(window: BudgetWindow, now: number, cached: WindowSpan | undefined): WindowSpan {
  if (cached !== undefined && now >= cached.start && now < cached.resetsAt) return cached;
  return windowAt(window, now);
}
