import type { NormalizedPolicy } from './policy-schema.js';
import type { CallSubject, LineLimits, PolicyLine, PolicyMatch } from './policy-types.js';
import { windowAt, type BudgetWindow, type WindowSpan } from './windows.js';

/** The UTC minute: the window of every rate meter. */
const MINUTE: BudgetWindow = Object.freeze({ count: 1, unit: 'm' });
const NO_THRESHOLDS: readonly number[] = Object.freeze([]);
/** Most lines cached per meter of a policy (entities seen in the current window). */
const LINE_CACHE_SIZE = 10_000;

type Attribute = keyof PolicyMatch;

/** One `match` entry, compiled: the attribute, and its value (exact) or prefix (a value ending in `*`). */
interface MatchTest {
  read: (subject: CallSubject) => unknown;
  value: string;
  prefix: boolean;
}

/** Reads one attribute of a subject with a monomorphic property load (a `subject[name]` with a variable name is a keyed, slower one). */
const READERS: Record<Attribute, (subject: CallSubject) => unknown> = {
  thread: (s) => s.thread,
  user: (s) => s.user,
  org: (s) => s.org,
  key: (s) => s.key,
  agent: (s) => s.agent,
  model: (s) => s.model,
};

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
  private readonly readEntity: (subject: CallSubject) => unknown;
  private readonly budgetLimits: LineLimits | undefined;
  private readonly rateLimits: LineLimits | undefined;
  /** Whether the budget meter counts USD (then an unpriced model matters). */
  readonly limitsUsd: boolean;
  private budgetSpan: WindowSpan | undefined;
  private rateSpan: WindowSpan | undefined;
  private readonly budgetCache = new LineCache();
  private readonly rateCache = new LineCache();
  /**
   * Per bare id (the call's scope attribute): its entity, qualified (`acme/u-7`) by the org it was last seen
   * with, built once (a fresh string would cost a concatenation, a flatten and a hash at every lookup keyed
   * by it), and its lines as of the spans they were built for: one lookup per policy and call.
   */
  private readonly entries = new Map<string, EntityEntry>();

  constructor(readonly policy: NormalizedPolicy) {
    this.tests = Object.entries(policy.match ?? {}).map(([attribute, value]) => {
      const prefix = value.endsWith('*');
      return { read: READERS[attribute as Attribute], value: prefix ? value.slice(0, -1) : value, prefix };
    });
    this.readEntity = policy.scope === 'global' ? () => '*' : READERS[policy.scope];
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
    return this.entryOf(subject)?.entity;
  }

  /** The cached entry of the entity the call is counted as (see {@link entityOf}), or `undefined` when the policy does not apply. */
  entryOf(subject: CallSubject): EntityEntry | undefined {
    const id = this.readEntity(subject);
    if (typeof id !== 'string' || id === '') return undefined;
    const tests = this.tests;
    for (let i = 0; i < tests.length; i++) {
      const test = tests[i]!;
      const value = test.read(subject);
      if (typeof value !== 'string') return undefined;
      if (test.prefix ? !value.startsWith(test.value) : value !== test.value) return undefined;
    }
    const scope = this.policy.scope;
    const org = (scope === 'user' || scope === 'agent') && typeof subject.org === 'string' && subject.org !== '' ? subject.org : undefined;
    let entry = this.entries.get(id);
    if (entry === undefined || entry.org !== org) {
      // An id seen under another org (or none) gets its entry rebuilt.
      if (this.entries.size >= LINE_CACHE_SIZE) this.entries.clear();
      entry = { org, entity: org === undefined ? id : `${org}/${id}`, budget: undefined, budgetSpan: undefined, rate: undefined, rateSpan: undefined };
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** Appends to `out` the lines of an entry at `now` (as {@link lines} does), reusing those it holds for the current spans. */
  linesOf(entry: EntityEntry, now: number, priced: boolean, out: PolicyLine[]): void {
    if (this.budgetLimits !== undefined) {
      const window = this.policy.budgetWindow;
      const span = window === undefined ? undefined : (this.budgetSpan = spanAt(window, now, this.budgetSpan));
      const isPriced = priced || !this.limitsUsd;
      if (isPriced && entry.budget !== undefined && entry.budgetSpan === span) out.push(entry.budget);
      else {
        const line = this.line('budget', entry.entity, now, isPriced)!;
        if (isPriced) {
          entry.budget = line;
          entry.budgetSpan = span;
        }
        out.push(line);
      }
    }
    if (this.rateLimits !== undefined) {
      const span = (this.rateSpan = spanAt(MINUTE, now, this.rateSpan));
      if (entry.rate !== undefined && entry.rateSpan === span) out.push(entry.rate);
      else {
        const line = this.line('rate', entry.entity, now, true)!;
        entry.rate = line;
        entry.rateSpan = span;
        out.push(line);
      }
    }
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

  /**
   * The entity's line of one meter at `now`, or `undefined` when the policy has no such meter. Lines are
   * frozen and cached per entity for the current window (most calls come from entities seen a moment ago):
   * a call then allocates no line.
   */
  line(meter: PolicyLine['meter'], entity: string, now: number, priced: boolean): PolicyLine | undefined {
    if (meter === 'budget') {
      if (this.budgetLimits === undefined) return undefined;
      const window = this.policy.budgetWindow;
      const span = window === undefined ? undefined : (this.budgetSpan = spanAt(window, now, this.budgetSpan));
      if (span !== this.budgetCache.span) this.budgetCache.reset(span);
      const isPriced = priced || !this.limitsUsd;
      const cached = isPriced ? this.budgetCache.lines.get(entity) : undefined;
      if (cached !== undefined) return cached;
      const line = this.build('budget', entity, span, window, this.budgetLimits, isPriced, this.policy.thresholds);
      if (isPriced) this.budgetCache.add(entity, line);
      return line;
    }
    if (this.rateLimits === undefined) return undefined;
    const span = (this.rateSpan = spanAt(MINUTE, now, this.rateSpan));
    if (span !== this.rateCache.span) this.rateCache.reset(span);
    const cached = this.rateCache.lines.get(entity);
    if (cached !== undefined) return cached;
    const line = this.build('rate', entity, span, MINUTE, this.rateLimits, true, NO_THRESHOLDS);
    this.rateCache.add(entity, line);
    return line;
  }

  private build(
    meter: PolicyLine['meter'],
    entity: string,
    span: WindowSpan | undefined,
    window: BudgetWindow | undefined,
    limits: LineLimits,
    priced: boolean,
    thresholds: readonly number[],
  ): PolicyLine {
    const { name: policy, scope } = this.policy;
    const org = qualifyingOrg(scope, entity);
    return Object.freeze({
      policy, scope, entity, org, meter, windowStart: span?.start ?? 0, resetsAt: span?.resetsAt ?? null, window, limits, priced, thresholds,
    });
  }
}

/** A bare id's entity under one policy (qualified by `org` when set), and its lines in the spans they were built for. */
export interface EntityEntry {
  readonly org: string | undefined;
  readonly entity: string;
  budget: PolicyLine | undefined;
  budgetSpan: WindowSpan | undefined;
  rate: PolicyLine | undefined;
  rateSpan: WindowSpan | undefined;
}

/** Lines of one meter of a policy for one window, by entity; emptied when the window changes or it is full. */
class LineCache {
  readonly lines = new Map<string, PolicyLine>();
  span: WindowSpan | undefined;

  reset(span: WindowSpan | undefined): void {
    this.lines.clear();
    this.span = span;
  }

  add(entity: string, line: PolicyLine): void {
    if (this.lines.size >= LINE_CACHE_SIZE) this.lines.clear();
    this.lines.set(entity, line);
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
