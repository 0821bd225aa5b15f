/**
 * Restoring a budget line's spend from the usage store (issue 14): the summary of the line's entity in
 * its window, narrowed by its policy's `match`, against real SQLite and PostgreSQL stores holding events
 * recorded by a real tracker — and, end to end, equal to what the router settled on the policies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  BudgetPolicy,
  CallSubject,
  PolicyAmount,
  PolicyGuard,
  PolicyLine,
  PolicyReservation,
  PolicyReserved,
  PolicyStanding,
} from '../../src/budget/policy-types.js';
import { parseWindow, windowAt } from '../../src/budget/windows.js';
import { ConfigError, ValidationError } from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { PostgresUsageStore } from '../../src/stores/usage/postgres/postgres-usage-store.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { policyLineFilter, storePolicyRestorer } from '../../src/server/policy-restore.js';
import { UsageTracker, type RecordInput } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import type { UsageStore } from '../../src/usage/usage-store.js';
import { startFakeOpenAIServer } from '../support/fake-openai-server.js';
import { DATABASE_URL } from '../support/services.js';

/** A store the tests can fill through a tracker. */
type TestStore = UsageStore & { attach(tracker: UsageTracker): () => void };

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 30, 15); // the lines' current window
const dir = mkdtempSync(join(tmpdir(), 'tw-restore-'));
const schema = `tw_restore_${process.pid}_${Date.now().toString(36)}`;
let pool: pg.Pool | undefined;
let n = 0;

const stores: Array<[string, () => TestStore]> = [['sqlite', () => new SqliteUsageStore({ path: join(dir, `s${++n}.db`) })]];
if (DATABASE_URL) {
  stores.push(['postgres', () => new PostgresUsageStore({ pool: (pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 4 })), schema, table: `t${++n}`, spoolPath: join(dir, `t${n}.jsonl`), flushIntervalMs: 5 })]);
}

afterAll(async () => {
  if (pool) {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A line of `policy` for `entity` in the window holding NOW (lifetime without a window). */
function lineOf(policy: BudgetPolicy, entity: string): PolicyLine {
  const window = policy.window === undefined ? undefined : parseWindow(policy.window);
  const span = window ? windowAt(window, NOW) : { start: 0, resetsAt: null };
  return {
    policy: policy.name,
    scope: policy.scope,
    entity,
    meter: 'budget',
    windowStart: span.start,
    resetsAt: span.resetsAt,
    window,
    limits: { nanos: 1e9 },
    priced: true,
    thresholds: [],
  };
}

const POLICIES: BudgetPolicy[] = [
  { name: 'user-daily', scope: 'user', maxUsd: 1, window: '1d' },
  { name: 'key-life', scope: 'key', maxTokens: 1e9 },
  { name: 'gpt4o-all', scope: 'global', match: { model: 'gpt-4o*' }, maxUsd: 5, window: '1w' },
  { name: 'acme-writer', scope: 'org', match: { agent: 'writer' }, maxUsd: 5, window: '1mo' },
  { name: 'thread-1h', scope: 'thread', maxTokens: 1e6, window: '1h' },
  { name: 'per-agent', scope: 'agent', match: { model: '*' }, maxUsd: 1, window: '1d' },
  { name: 'per-model', scope: 'model', match: { user: 'ann' }, maxUsd: 1, window: '1d' },
];

/** Events around NOW: in and out of each window, of several users, keys, orgs, agents, threads and models. */
function recordAll(tracker: UsageTracker): void {
  const base = { provider: 'openai', latencyMs: 5 };
  const rows: Array<Omit<RecordInput, 'provider' | 'latencyMs'>> = [
    { model: 'gpt-4o', threadId: 't1', agentId: 'writer', promptTokens: 100, completionTokens: 10, timestamp: NOW - 1000, metadata: { user_id: 'ann', org_id: 'acme', key_name: 'k1' } },
    { model: 'gpt-4o-mini', threadId: 't1', agentId: 'writer', promptTokens: 200, completionTokens: 20, timestamp: NOW - 2 * 3_600_000, metadata: { userId: 'ann', orgId: 'acme', key_name: 'k1' } },
    { model: 'gpt-4o', threadId: 't2', agentId: 'reader', promptTokens: 300, completionTokens: 30, timestamp: NOW - DAY, metadata: { user_id: 'ann', org_id: 'acme', key_name: 'k2' } },
    { model: 'GPT-4o', threadId: 't2', agentId: 'writer', promptTokens: 400, completionTokens: 40, timestamp: NOW - 60_000, metadata: { user_id: 'bob', org_id: 'acme', key_name: 'k1' } },
    { model: 'claude-3-5-sonnet', threadId: 't1', agentId: 'writer', promptTokens: 500, completionTokens: 50, timestamp: NOW - 30_000, metadata: { user_id: 'ann', org_id: 'globex' } },
    { model: 'gpt-4o', threadId: null, agentId: null, promptTokens: 600, completionTokens: 60, timestamp: NOW - 40 * DAY, metadata: { key_name: 'k1' } },
    { model: 'unpriced-x', threadId: 't1', agentId: 'writer', promptTokens: 700, completionTokens: 70, timestamp: NOW - 5000, metadata: { user_id: 'ann', org_id: 'acme', key_name: 'k1' } },
  ];
  for (const row of rows) tracker.record({ ...base, ...row });
}

/** Sum of the recorded events a predicate picks, as a restore answers. */
function sumOf(events: UsageEvent[], pick: (e: UsageEvent) => boolean): { nanos: number; tokens: number; requests: number } {
  const chosen = events.filter(pick);
  return { nanos: chosen.reduce((a, e) => a + (e.costNanos ?? 0), 0), tokens: chosen.reduce((a, e) => a + e.totalTokens, 0), requests: chosen.length };
}

const inLine = (line: PolicyLine) => (e: UsageEvent): boolean => e.timestamp >= line.windowStart && (line.resetsAt === null || e.timestamp < line.resetsAt);

describe('policyLineFilter', () => {
  it('maps window, scope entity and match to a usage filter', () => {
    const [userDaily, keyLife, gpt4oAll, acmeWriter] = POLICIES as [BudgetPolicy, BudgetPolicy, BudgetPolicy, BudgetPolicy];
    const day = windowAt({ count: 1, unit: 'd' }, NOW);
    expect(policyLineFilter(userDaily, lineOf(userDaily, 'ann'))).toEqual({ since: day.start, until: day.resetsAt, userId: 'ann' });
    expect(policyLineFilter(keyLife, lineOf(keyLife, 'k1'))).toEqual({ since: 0, keyName: 'k1' });
    // A user qualified by its org (acme/ann) is stored as org_id acme, user_id ann.
    const qualified = { ...lineOf(userDaily, 'acme/ann'), org: 'acme' };
    expect(policyLineFilter(userDaily, qualified)).toEqual({ since: day.start, until: day.resetsAt, userId: 'ann', orgId: 'acme' });
    expect(policyLineFilter(gpt4oAll, lineOf(gpt4oAll, '*'))).toMatchObject({ modelPrefix: 'gpt-4o' });
    expect(policyLineFilter(acmeWriter, lineOf(acmeWriter, 'acme'))).toMatchObject({ orgId: 'acme', agentId: 'writer' });
    const contradicted: BudgetPolicy = { name: 'x', scope: 'user', match: { user: 'bob' }, maxUsd: 1 };
    expect(policyLineFilter(contradicted, lineOf(contradicted, 'ann'))).toBeUndefined();
  });

  it('refuses up front a policy whose match has a prefix on another attribute than model, naming it', () => {
    const store = { summary: () => Promise.reject(new Error('not called')) };
    const bad: BudgetPolicy[] = [POLICIES[0]!, { name: 'team', scope: 'user', match: { user: 'team-*' }, maxUsd: 1 }];
    expect(() => storePolicyRestorer(store, bad)).toThrow(ConfigError);
    expect(() => storePolicyRestorer(store, bad)).toThrow(/policies\[1\]\.match\.user/);
  });
});

describe.each(stores)('storePolicyRestorer on %s', (_name, makeStore) => {
  const open: TestStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  const fresh = (): TestStore => {
    const s = makeStore();
    open.push(s);
    return s;
  };

  it('restores each line to the sum of its stored events (window, entity, match; unpriced events count tokens only)', async () => {
    const store = fresh();
    const tracker = new UsageTracker();
    const events: UsageEvent[] = [];
    tracker.subscribe((e) => events.push(e));
    store.attach(tracker);
    recordAll(tracker);
    await store.flush();
    expect(events.find((e) => e.model === 'unpriced-x')!.costNanos).toBeUndefined();
    expect(events.find((e) => e.model === 'gpt-4o')!.costNanos).toBeGreaterThan(0);
    const restore = storePolicyRestorer(store, POLICIES);
    const [userDaily, keyLife, gpt4oAll, acmeWriter, thread1h, perAgent, perModel] = POLICIES as [BudgetPolicy, BudgetPolicy, BudgetPolicy, BudgetPolicy, BudgetPolicy, BudgetPolicy, BudgetPolicy];
    const user = (e: UsageEvent): string | undefined => (e.metadata.user_id ?? e.metadata.userId) as string | undefined;
    const org = (e: UsageEvent): string | undefined => (e.metadata.org_id ?? e.metadata.orgId) as string | undefined;
    const cases: Array<[PolicyLine, (e: UsageEvent) => boolean]> = [
      [lineOf(userDaily, 'ann'), (e) => user(e) === 'ann'],
      [lineOf(userDaily, 'bob'), (e) => user(e) === 'bob'],
      [lineOf(keyLife, 'k1'), (e) => e.metadata.key_name === 'k1'],
      [lineOf(gpt4oAll, '*'), (e) => e.model.startsWith('gpt-4o')],
      [lineOf(acmeWriter, 'acme'), (e) => org(e) === 'acme' && e.agentId === 'writer'],
      [lineOf(thread1h, 't1'), (e) => e.threadId === 't1'],
      [lineOf(perAgent, 'writer'), (e) => e.agentId === 'writer'],
      [lineOf(perModel, 'gpt-4o'), (e) => e.model === 'gpt-4o' && user(e) === 'ann'],
      [lineOf(userDaily, 'nobody'), () => false],
    ];
    for (const [line, pick] of cases) {
      const want = sumOf(events, (e) => inLine(line)(e) && pick(e));
      expect({ line: `${line.policy}/${line.entity}`, ...(await restore(line)) }).toEqual({ line: `${line.policy}/${line.entity}`, ...want });
    }
    // The cases are not vacuous: the daily user line has priced and unpriced events, the lifetime key line an old one.
    expect((await restore(lineOf(userDaily, 'ann'))).requests).toBe(4);
    expect((await restore(lineOf(keyLife, 'k1'))).requests).toBe(5);
    await expect(restore({ ...lineOf(userDaily, 'ann'), policy: 'gone' })).rejects.toThrow(ValidationError);
  });

  it('end to end: what the router settled on a policy equals what the restorer reads back from the store', async () => {
    const store = fresh();
    const srv = await startFakeOpenAIServer();
    try {
      const tracker = new UsageTracker();
      store.attach(tracker);
      const guard = new SummingGuard();
      const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, models: '*' });
      const router = new LLMRouter({ backends: [backend], tracker, policies: guard, estimateTokens: () => 10 });
      const users = ['ann', 'bob', 'ann', 'cy', 'ann'];
      for (const [i, u] of users.entries()) {
        srv.enqueue({ kind: 'ok', usage: { prompt_tokens: 10 + i, completion_tokens: 3 * i } });
        await router.complete({ model: i % 2 ? 'gpt-4o-mini' : 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: u, key_name: 'k' } });
      }
      await store.flush();
      const policy: BudgetPolicy = { name: 'user-daily', scope: 'user', maxUsd: 1, window: '1d' };
      const restore = storePolicyRestorer(store, [policy]);
      for (const u of ['ann', 'bob', 'cy']) {
        const line = { ...lineOf(policy, u), ...spanNow() };
        expect(await restore(line)).toEqual({ ...guard.settled.get(u)!, requests: users.filter((x) => x === u).length });
      }
      expect(guard.settled.get('ann')!.nanos).toBeGreaterThan(0);
    } finally {
      await srv.close();
    }
  });
});

/** The current UTC day (the end-to-end events are stamped with the real clock). */
function spanNow(): { windowStart: number; resetsAt: number } {
  const span = windowAt({ count: 1, unit: 'd' }, Date.now());
  return { windowStart: span.start, resetsAt: span.resetsAt };
}

/** A PolicyGuard of one user-scoped policy that sums what the router settles per user. */
class SummingGuard implements PolicyGuard {
  readonly settled = new Map<string, PolicyAmount>();
  private next = 0;

  async reserve(subject: CallSubject): Promise<PolicyReserved | undefined> {
    if (!subject.user) return undefined;
    const line = { ...lineOf(POLICIES[0]!, subject.user), ...spanNow() };
    const reservation: PolicyReservation = { id: `r${++this.next}`, lines: [line], amount: { nanos: 0, tokens: 0 }, expiresAt: Date.now() + 60_000 };
    return { reservation, standings: [] };
  }

  async settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]> {
    const user = reservation.lines[0]!.entity;
    const sum = this.settled.get(user) ?? { nanos: 0, tokens: 0 };
    this.settled.set(user, { nanos: sum.nanos + actual.nanos, tokens: sum.tokens + actual.tokens });
    return [];
  }

  async release(): Promise<void> {}
}

beforeAll(() => {
  expect(stores.length).toBeGreaterThan(0);
});
