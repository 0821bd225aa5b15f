/**
 * One contract for every UsageStore backend. Each backend's test file calls
 * `runUsageStoreContract(name, makeStore)`; `makeStore` returns a fresh, empty store per test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.js';
import type { UsageEventSource } from '../../../src/usage/tracker-attachment.js';
import type { UsageStore } from '../../../src/usage/usage-store.js';
import { UsageTracker } from '../../../src/usage/tracker.js';
import type { UsageEvent } from '../../../src/usage/types.js';

/** A store under contract: a UsageStore that can also be attached to a tracker. */
export interface ContractStore extends UsageStore {
  attach(tracker: UsageEventSource): () => void;
  hourly: NonNullable<UsageStore['hourly']>;
}

const DAY = 86_400_000;
/** 2025-03-10T00:00:00Z */
export const T0 = Date.UTC(2025, 2, 10);

let seq = 0;

/** A usage event with sensible defaults; ids are unique per call unless given. */
export function makeEvent(overrides: Partial<UsageEvent> = {}): UsageEvent {
  seq++;
  const costNanos = 'costNanos' in overrides ? overrides.costNanos : 1_000 * seq;
  return {
    id: `evt-${String(seq).padStart(6, '0')}`,
    threadId: 'thread-1',
    agentId: 'agent-a',
    model: 'gpt-4o',
    provider: 'openai',
    promptTokens: 100,
    completionTokens: 50,
    totalTokens: 150,
    timestamp: T0 + seq,
    latencyMs: 12.5,
    metadata: {},
    ...overrides,
    costNanos,
    estimatedCost: costNanos === undefined ? undefined : costNanos / 1e9,
  };
}

function byTsThenId(a: UsageEvent, b: UsageEvent): number {
  if (a.timestamp !== b.timestamp) return a.timestamp - b.timestamp;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function shuffled<T>(items: readonly T[], seed = 7): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function allPages(store: UsageStore, query: Parameters<UsageStore['query']>[0] = {}): Promise<UsageEvent[]> {
  const out: UsageEvent[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await store.query({ ...query, cursor });
    out.push(...page.events);
    if (!page.nextCursor) return out;
    expect(page.events.length).toBe(query.limit ?? 100);
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

function expectValidation(err: unknown, field: string): void {
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).field).toBe(field);
  expect((err as ValidationError).message).toContain(field);
}

/** Runs the UsageStore contract against one backend. */
export function runUsageStoreContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`UsageStore contract: ${name}`, () => {
    const open: ContractStore[] = [];
    const fresh = async (): Promise<ContractStore> => {
      const store = await makeStore();
      open.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('round-trips every field of an event', async () => {
      const store = await fresh();
      const full = makeEvent({
        cachedPromptTokens: 40,
        cacheWriteTokens: 7,
        reasoningTokens: 20,
        overspendTokens: 9,
        metadata: { org_id: 'acme', user_id: 'u1', flag: true, n: 3, nothing: null, quote: 'a "b" \\ c' },
      });
      const unpriced = makeEvent({ threadId: null, agentId: null, costNanos: undefined, latencyMs: 0 });
      await store.append([full, unpriced]);
      await store.flush();
      const page = await store.query();
      expect(page.nextCursor).toBeUndefined();
      expect(page.events).toEqual([full, unpriced]);
      expect(page.events[1]!.costNanos).toBeUndefined();
      expect(page.events[1]!.estimatedCost).toBeUndefined();
      expect(page.events[0]!.estimatedCost).toBe(full.costNanos! / 1e9);
    });

    it('an empty store answers every query with zeros', async () => {
      const store = await fresh();
      expect(await store.query()).toEqual({ events: [], nextCursor: undefined });
      expect(await store.count()).toBe(0);
      expect(await store.daily()).toEqual([]);
      const s = await store.summary({ orgId: 'nobody' });
      expect(s.totals).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0, requestCount: 0, costNanos: 0, cost: 0, unpricedCount: 0 });
      expect(s.byModel).toEqual([]);
      expect(s.byAgent).toEqual([]);
      expect(s.orgId).toBe('nobody');
    });

    it('appends idempotently by id: replays, retries and in-batch duplicates are stored once', async () => {
      const store = await fresh();
      const events = Array.from({ length: 30 }, () => makeEvent());
      await store.append(events);
      await store.append(events.slice(10));
      await store.append([events[0]!, events[0]!, events[1]!]);
      await store.append(events[2]!);
      const changed = { ...events[3]!, promptTokens: 9999, totalTokens: 10049 };
      await store.append(changed);
      await store.flush();
      expect(await store.count()).toBe(30);
      const stored = await allPages(store);
      expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id));
      expect(stored[3]!.promptTokens).toBe(100); // first write wins
      const s = await store.summary();
      expect(s.totals.requestCount).toBe(30);
      expect(s.totals.costNanos).toBe(events.reduce((a, e) => a + e.costNanos!, 0));
    });

    it('filters by time range (since inclusive, until exclusive), org, user, agent, model, provider and thread', async () => {
      const store = await fresh();
      const events = [
        makeEvent({ timestamp: T0, metadata: { org_id: 'acme', user_id: 'ann' } }),
        makeEvent({ timestamp: T0 + 1000, metadata: { orgId: 'acme', userId: 'bob' }, agentId: 'agent-b' }),
        makeEvent({ timestamp: T0 + 2000, metadata: { org_id: 'globex' }, model: 'claude-3-5-sonnet', provider: 'anthropic' }),
        makeEvent({ timestamp: T0 + 3000, metadata: {}, threadId: 'thread-2', agentId: null }),
        makeEvent({ timestamp: T0 + 4000, metadata: { org_id: 'acme', user_id: 'ann' }, threadId: 'thread-2', model: 'claude-3-5-sonnet', provider: 'anthropic' }),
      ];
      await store.append(shuffled(events));
      await store.flush();
      const ids = async (f: Record<string, unknown>): Promise<string[]> =>
        (await allPages(store, f as Parameters<UsageStore['query']>[0])).map((e) => e.id);
      const pick = (...idx: number[]): string[] => idx.map((i) => events[i]!.id);

      expect(await ids({ since: T0 + 1000 })).toEqual(pick(1, 2, 3, 4));
      expect(await ids({ until: T0 + 3000 })).toEqual(pick(0, 1, 2));
      expect(await ids({ since: new Date(T0 + 1000), until: new Date(T0 + 3000) })).toEqual(pick(1, 2));
      expect(await ids({ since: T0 + 1000, until: T0 + 1000 })).toEqual([]);
      expect(await ids({ orgId: 'acme' })).toEqual(pick(0, 1, 4));
      expect(await ids({ orgId: 'globex' })).toEqual(pick(2));
      expect(await ids({ userId: 'ann' })).toEqual(pick(0, 4));
      expect(await ids({ agentId: 'agent-b' })).toEqual(pick(1));
      expect(await ids({ model: 'claude-3-5-sonnet' })).toEqual(pick(2, 4));
      expect(await ids({ provider: 'anthropic' })).toEqual(pick(2, 4));
      expect(await ids({ threadId: 'thread-2' })).toEqual(pick(3, 4));
      expect(await ids({ orgId: 'acme', threadId: 'thread-2', since: T0 + 1 })).toEqual(pick(4));
      expect(await ids({ orgId: 'nobody' })).toEqual([]);

      expect(await store.count({ orgId: 'acme' })).toBe(3);
      expect(await store.count({ provider: 'anthropic', until: T0 + 3000 })).toBe(1);
      expect((await store.summary({ userId: 'ann' })).totals.requestCount).toBe(2);
      expect((await store.daily({ model: 'claude-3-5-sonnet' }))[0]!.requestCount).toBe(2);
    });

    it('filters by key name (metadata.key_name) and model prefix (literal, case-sensitive), in queries and aggregates', async () => {
      const store = await fresh();
      const events = [
        makeEvent({ timestamp: T0, model: 'gpt-4o', metadata: { key_name: 'ci' } }),
        makeEvent({ timestamp: T0 + 1000, model: 'gpt-4o-mini', metadata: { key_name: 'ci-2', user_id: 'ann' } }),
        makeEvent({ timestamp: T0 + 2000, model: 'GPT-4o', metadata: { key_name: 'ci' } }),
        makeEvent({ timestamp: T0 + 3000, model: 'gpt_4o', metadata: { key_name: 7 } }),
        makeEvent({ timestamp: T0 + DAY + 5, model: 'a%b\\c', metadata: { keyName: 'ci' } }),
        makeEvent({ timestamp: T0 + DAY + 6, model: 'a%bxc', metadata: {} }),
        makeEvent({ timestamp: T0 + DAY + 7, model: 'gpt-4o', metadata: { key_name: 'ci' }, costNanos: undefined }),
      ];
      await store.append(shuffled(events));
      await store.flush();
      const ids = async (f: Record<string, unknown>): Promise<string[]> =>
        (await allPages(store, f as Parameters<UsageStore['query']>[0])).map((e) => e.id);
      const pick = (...idx: number[]): string[] => idx.map((i) => events[i]!.id);

      expect(await ids({ keyName: 'ci' })).toEqual(pick(0, 2, 6));
      expect(await ids({ keyName: '7' })).toEqual(pick(3)); // a number is compared as its text
      expect(await ids({ keyName: 'c' })).toEqual([]);
      expect(await ids({ modelPrefix: 'gpt-4o' })).toEqual(pick(0, 1, 6));
      expect(await ids({ modelPrefix: 'gpt_' })).toEqual(pick(3)); // `_` is no wildcard
      expect(await ids({ modelPrefix: 'GPT' })).toEqual(pick(2)); // case-sensitive
      expect(await ids({ modelPrefix: 'a%b\\' })).toEqual(pick(4)); // `%` and `\\` are literal
      expect(await ids({ modelPrefix: 'gpt-4o', keyName: 'ci', since: T0 + 1 })).toEqual(pick(6));

      // Whole days (the rollup where the store has one) and partial days agree with the events.
      const sums = (idx: number[]) => ({
        requestCount: idx.length,
        totalTokens: idx.length * 150,
        costNanos: idx.reduce((a, i) => a + (events[i]!.costNanos ?? 0), 0),
      });
      for (const range of [{}, { since: T0 - DAY, until: T0 + 3 * DAY }, { since: T0 + 500, until: T0 + DAY + 7 }]) {
        const within = (i: number): boolean =>
          (range.since === undefined || events[i]!.timestamp >= range.since) && (range.until === undefined || events[i]!.timestamp < range.until);
        for (const [filter, idx] of [
          [{ modelPrefix: 'gpt-4o' }, [0, 1, 6]],
          [{ keyName: 'ci' }, [0, 2, 6]],
          [{ modelPrefix: 'a%b' }, [4, 5]],
        ] as const) {
          const want = sums(idx.filter(within));
          const s = await store.summary({ ...range, ...filter });
          expect({ requestCount: s.totals.requestCount, totalTokens: s.totals.totalTokens, costNanos: s.totals.costNanos ?? 0 }).toEqual(want);
          expect(await store.count({ ...range, ...filter })).toBe(want.requestCount);
          const daily = await store.daily({ ...range, ...filter });
          expect(daily.reduce((a, d) => a + d.requestCount, 0)).toBe(want.requestCount);
          const hourly = await store.hourly({ ...range, ...filter });
          expect({ requestCount: hourly.reduce((a, h) => a + h.requestCount, 0), totalTokens: hourly.reduce((a, h) => a + h.totalTokens, 0), costNanos: hourly.reduce((a, h) => a + (h.costNanos ?? 0), 0) }).toEqual(want);
        }
      }
      await expect(store.count({ keyName: '' })).rejects.toThrow(ValidationError);
      await expect(store.count({ modelPrefix: 5 as unknown as string })).rejects.toThrow(/modelPrefix/);
    });

    it('paginates in (timestamp, id) order with no duplicates or gaps, even with equal timestamps', async () => {
      const store = await fresh();
      const odd = ['A-1', 'a1', 'B', '_x', 'a-2', 'Z9', 'z', '0', '~t', 'a'];
      const events: UsageEvent[] = [];
      for (let i = 0; i < 137; i++) {
        const id = i < odd.length ? odd[i]! : `id-${(i * 7919) % 1000}-${i}`;
        events.push(makeEvent({ id, timestamp: T0 + Math.floor(i / 25) * 1000, agentId: i % 3 === 0 ? 'agent-b' : 'agent-a' }));
      }
      await store.append(shuffled(events, 3));
      await store.flush();
      const expected = [...events].sort(byTsThenId).map((e) => e.id);
      for (const limit of [1, 7, 25, 100, 1000]) {
        const got = (await allPages(store, { limit })).map((e) => e.id);
        expect(got).toEqual(expected);
      }
      const filtered = (await allPages(store, { limit: 4, agentId: 'agent-b' })).map((e) => e.id);
      expect(filtered).toEqual([...events].filter((e) => e.agentId === 'agent-b').sort(byTsThenId).map((e) => e.id));

      // Events appended after a cursor was issued appear on later pages when they sort after it.
      const first = await store.query({ limit: 10 });
      const late = makeEvent({ id: 'zz-late', timestamp: T0 + 10 * 1000 });
      await store.append(late);
      await store.flush();
      const rest: string[] = [];
      let cursor = first.nextCursor;
      while (cursor) {
        const page = await store.query({ limit: 50, cursor });
        rest.push(...page.events.map((e) => e.id));
        cursor = page.nextCursor;
      }
      expect([...first.events.map((e) => e.id), ...rest]).toEqual([...expected, 'zz-late']);
    });

    it('sums money exactly: totals, byModel and byAgent equal the events to the nano-dollar', async () => {
      const store = await fresh();
      const models = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet'];
      const agents = ['planner', 'writer', null];
      const events: UsageEvent[] = [];
      let x = 12345;
      for (let i = 0; i < 400; i++) {
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        const prompt = x % 5000;
        const completion = (x >> 8) % 3000;
        events.push(
          makeEvent({
            model: models[i % 3]!,
            agentId: agents[(i >> 1) % 3]!,
            promptTokens: prompt,
            completionTokens: completion,
            totalTokens: prompt + completion,
            // Values whose float sum drifts: many 0.1-cent-ish amounts plus large ones.
            costNanos: i % 17 === 0 ? undefined : 100_000_001 + (x % 999_999_937) * 1_000,
            timestamp: T0 + i * 3_600_000,
            metadata: { org_id: i % 4 === 0 ? 'acme' : 'globex' },
          }),
        );
      }
      await store.append(events);
      await store.flush();

      const expectGroup = (subset: UsageEvent[]) => {
        const costNanos = subset.reduce((a, e) => a + BigInt(e.costNanos ?? 0), 0n);
        const unpricedCount = subset.filter((e) => e.costNanos === undefined).length;
        const allUnpriced = subset.length > 0 && unpricedCount === subset.length;
        return {
          promptTokens: subset.reduce((a, e) => a + e.promptTokens, 0),
          completionTokens: subset.reduce((a, e) => a + e.completionTokens, 0),
          totalTokens: subset.reduce((a, e) => a + e.totalTokens, 0),
          requestCount: subset.length,
          costNanos: allUnpriced ? null : Number(costNanos),
          cost: allUnpriced ? null : Number(costNanos) / 1e9,
          unpricedCount,
        };
      };
      for (const orgId of [undefined, 'acme']) {
        const subset = events.filter((e) => orgId === undefined || e.metadata.org_id === orgId);
        const s = await store.summary(orgId ? { orgId } : {});
        expect(s.orgId).toBe(orgId);
        expect(s.totals).toEqual(expectGroup(subset));
        expect(s.byModel).toHaveLength(3);
        for (const m of s.byModel) {
          const { model, ...agg } = m;
          expect(agg).toEqual(expectGroup(subset.filter((e) => e.model === model)));
        }
        expect(s.byAgent).toHaveLength(3);
        for (const a of s.byAgent) {
          const { agentId, ...agg } = a;
          expect(agg).toEqual(expectGroup(subset.filter((e) => e.agentId === agentId)));
        }
        for (let i = 1; i < s.byModel.length; i++) expect(s.byModel[i - 1]!.costNanos ?? 0).toBeGreaterThanOrEqual(s.byModel[i]!.costNanos ?? 0);
        expect(s.byModel.reduce((a, m) => a + (m.costNanos ?? 0), 0)).toBe(s.totals.costNanos);
        expect(s.byAgent.reduce((a, m) => a + (m.costNanos ?? 0), 0)).toBe(s.totals.costNanos);
        expect(s.byModel.reduce((a, m) => a + m.unpricedCount, 0)).toBe(s.totals.unpricedCount);
      }
      const window = await store.summary({ since: T0 + 10 * 3_600_000, until: T0 + 20 * 3_600_000 });
      expect(window.since).toBe(T0 + 10 * 3_600_000);
      expect(window.until).toBe(T0 + 20 * 3_600_000);
      expect(window.totals).toEqual(expectGroup(events.slice(10, 20)));
    });

    it('builds the daily series on UTC dates', async () => {
      const store = await fresh();
      const events = [
        makeEvent({ timestamp: T0 - 1, costNanos: 5 }), // 2025-03-09T23:59:59.999Z
        makeEvent({ timestamp: T0, costNanos: 7 }), // 2025-03-10T00:00:00.000Z
        makeEvent({ timestamp: T0 + DAY - 1, costNanos: 11 }),
        makeEvent({ timestamp: T0 + 2 * DAY + 5, costNanos: undefined, metadata: { org_id: 'acme' } }),
      ];
      await store.append(shuffled(events));
      await store.flush();
      const series = await store.daily();
      expect(series).toEqual([
        { date: '2025-03-09', promptTokens: 100, completionTokens: 50, totalTokens: 150, requestCount: 1, costNanos: 5, cost: 5e-9, unpricedCount: 0 },
        { date: '2025-03-10', promptTokens: 200, completionTokens: 100, totalTokens: 300, requestCount: 2, costNanos: 18, cost: 18e-9, unpricedCount: 0 },
        { date: '2025-03-12', promptTokens: 100, completionTokens: 50, totalTokens: 150, requestCount: 1, costNanos: null, cost: null, unpricedCount: 1 },
      ]);
      expect((await store.daily({ orgId: 'acme' })).map((d) => d.date)).toEqual(['2025-03-12']);
      expect((await store.daily({ since: T0 })).map((d) => d.date)).toEqual(['2025-03-10', '2025-03-12']);
    });

    it('builds the hourly series on UTC hours, exactly, with filters and ragged ranges', async () => {
      const store = await fresh();
      const H = 3_600_000;
      expect(await store.hourly()).toEqual([]);
      const events = [
        makeEvent({ timestamp: T0 - 1, costNanos: 5, promptTokens: 10, completionTokens: 1, totalTokens: 11 }), // 2025-03-09T23:59:59.999Z
        makeEvent({ timestamp: T0, costNanos: 7, promptTokens: 20, completionTokens: 2, totalTokens: 22 }), // 2025-03-10T00:00:00.000Z
        makeEvent({ timestamp: T0 + H - 1, costNanos: 11, promptTokens: 30, completionTokens: 3, totalTokens: 33, metadata: { org_id: 'acme' } }),
        makeEvent({ timestamp: T0 + H, costNanos: undefined, promptTokens: 40, completionTokens: 4, totalTokens: 44, metadata: { org_id: 'acme' } }),
        makeEvent({ timestamp: T0 + 5 * H + 30 * 60_000, costNanos: 2_000_000_001, model: 'o3', promptTokens: 50, completionTokens: 5, totalTokens: 55 }),
        makeEvent({ timestamp: T0 + 5 * H + 59 * 60_000, costNanos: 0, model: 'o3', agentId: null, promptTokens: 60, completionTokens: 6, totalTokens: 66 }),
        makeEvent({ timestamp: T0 + DAY + 3 * H, costNanos: 13, promptTokens: 70, completionTokens: 7, totalTokens: 77, metadata: { user_id: 'u1' } }),
      ];
      await store.append(shuffled(events, 5));
      await store.flush();
      expect(await store.hourly()).toEqual([
        { hour: '2025-03-09T23:00:00Z', promptTokens: 10, completionTokens: 1, totalTokens: 11, requestCount: 1, costNanos: 5, cost: 5e-9, unpricedCount: 0 },
        { hour: '2025-03-10T00:00:00Z', promptTokens: 50, completionTokens: 5, totalTokens: 55, requestCount: 2, costNanos: 18, cost: 18e-9, unpricedCount: 0 },
        { hour: '2025-03-10T01:00:00Z', promptTokens: 40, completionTokens: 4, totalTokens: 44, requestCount: 1, costNanos: null, cost: null, unpricedCount: 1 },
        { hour: '2025-03-10T05:00:00Z', promptTokens: 110, completionTokens: 11, totalTokens: 121, requestCount: 2, costNanos: 2_000_000_001, cost: 2.000000001, unpricedCount: 0 },
        { hour: '2025-03-11T03:00:00Z', promptTokens: 70, completionTokens: 7, totalTokens: 77, requestCount: 1, costNanos: 13, cost: 13e-9, unpricedCount: 0 },
      ]);
      // A ragged range: since inside an hour, until inside another (inclusive since, exclusive until).
      const ragged = await store.hourly({ since: T0 + H - 1, until: T0 + 5 * H + 59 * 60_000 });
      expect(ragged.map((p) => [p.hour, p.requestCount, p.totalTokens, p.costNanos, p.unpricedCount])).toEqual([
        ['2025-03-10T00:00:00Z', 1, 33, 11, 0],
        ['2025-03-10T01:00:00Z', 1, 44, null, 1],
        ['2025-03-10T05:00:00Z', 1, 55, 2_000_000_001, 0],
      ]);
      expect((await store.hourly({ orgId: 'acme' })).map((p) => [p.hour, p.requestCount, p.costNanos])).toEqual([
        ['2025-03-10T00:00:00Z', 1, 11],
        ['2025-03-10T01:00:00Z', 1, null],
      ]);
      expect((await store.hourly({ model: 'o3', since: T0 })).map((p) => [p.hour, p.requestCount, p.costNanos])).toEqual([['2025-03-10T05:00:00Z', 2, 2_000_000_001]]);
      expect((await store.hourly({ userId: 'u1' })).map((p) => [p.hour, p.totalTokens])).toEqual([['2025-03-11T03:00:00Z', 77]]);
      expect((await store.hourly({ agentId: 'agent-a', since: T0 + 5 * H })).map((p) => [p.hour, p.requestCount])).toEqual([
        ['2025-03-10T05:00:00Z', 1],
        ['2025-03-11T03:00:00Z', 1],
      ]);
      // Hours sum to the day: the hourly and daily series agree.
      const day = (await store.daily({ since: T0, until: T0 + DAY }))[0]!;
      const hours = await store.hourly({ since: T0, until: T0 + DAY });
      expect(hours.reduce((a, p) => a + p.totalTokens, 0)).toBe(day.totalTokens);
      expect(hours.reduce((a, p) => a + p.requestCount, 0)).toBe(day.requestCount);
      expect(hours.reduce((a, p) => a + (p.costNanos ?? 0), 0)).toBe(day.costNanos);
      expectValidation(await store.hourly({ since: T0 + 10, until: T0 }).catch((e: unknown) => e), 'until');
    });

    it('reports an unpriced model as unpriced (cost null, counted), never as $0, beside priced and free ones', async () => {
      const store = await fresh();
      const at = (day: number, hour: number): number => T0 + day * DAY + hour * 3_600_000;
      const events = [
        makeEvent({ model: 'gpt-4o', agentId: 'planner', timestamp: at(0, 1), costNanos: 2_500 }),
        makeEvent({ model: 'gpt-4o', agentId: 'planner', timestamp: at(1, 13), costNanos: 7_500 }),
        makeEvent({ model: 'my-local-model', agentId: 'planner', timestamp: at(0, 2), costNanos: undefined }),
        makeEvent({ model: 'my-local-model', agentId: 'local', timestamp: at(1, 14), costNanos: undefined }),
        makeEvent({ model: 'my-local-model', agentId: 'local', timestamp: at(2, 3), costNanos: undefined }),
        makeEvent({ model: 'free-model', agentId: 'free', timestamp: at(2, 4), costNanos: 0 }),
      ];
      await store.append(shuffled(events));
      await store.flush();
      // Whole days (the rollup), a ragged range (rollup plus events), and a range of partial days only.
      for (const filter of [{}, { since: at(0, 1), until: at(2, 5) }, { since: at(1, 12), until: at(1, 20) }]) {
        const label = JSON.stringify(filter);
        const s = await store.summary(filter);
        const ragged = 'until' in filter && filter.until === at(1, 20);
        const model = (name: string) => s.byModel.find((m) => m.model === name);
        expect(model('my-local-model'), label).toMatchObject({ costNanos: null, cost: null, unpricedCount: ragged ? 1 : 3, requestCount: ragged ? 1 : 3 });
        expect(model('gpt-4o'), label).toMatchObject({ costNanos: ragged ? 7_500 : 10_000, unpricedCount: 0 });
        if (ragged) {
          expect(s.totals, label).toMatchObject({ requestCount: 2, costNanos: 7_500, cost: 7.5e-6, unpricedCount: 1 });
          continue;
        }
        expect(model('free-model'), label).toMatchObject({ costNanos: 0, cost: 0, unpricedCount: 0 });
        expect(s.totals, label).toMatchObject({ requestCount: 6, costNanos: 10_000, cost: 1e-5, unpricedCount: 3 });
        const agent = (id: string) => s.byAgent.find((a) => a.agentId === id);
        expect(agent('planner'), label).toMatchObject({ requestCount: 3, costNanos: 10_000, unpricedCount: 1 });
        expect(agent('local'), label).toMatchObject({ requestCount: 2, costNanos: null, cost: null, unpricedCount: 2 });
      }
      const daily = await store.daily({ model: 'my-local-model' });
      expect(daily.map((d) => [d.date, d.costNanos, d.cost, d.unpricedCount])).toEqual([
        ['2025-03-10', null, null, 1],
        ['2025-03-11', null, null, 1],
        ['2025-03-12', null, null, 1],
      ]);
      const days = await store.daily();
      expect(days.map((d) => [d.date, d.requestCount, d.costNanos, d.unpricedCount])).toEqual([
        ['2025-03-10', 2, 2_500, 1],
        ['2025-03-11', 2, 7_500, 1],
        ['2025-03-12', 2, 0, 1],
      ]);
    });

    it('summaries, daily series and counts agree with the events for any range, whole days or not', async () => {
      const store = await fresh();
      const events: UsageEvent[] = [];
      let x = 99;
      const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % n);
      for (let i = 0; i < 300; i++) {
        events.push(
          makeEvent({
            timestamp: T0 + rnd(6 * DAY),
            model: ['gpt-4o', 'o3'][rnd(2)]!,
            provider: ['openai', 'azure'][rnd(2)]!,
            agentId: [null, 'a', ''][rnd(3)]!,
            threadId: `t${rnd(4)}`,
            costNanos: rnd(5) === 0 ? undefined : 1 + rnd(2_000_000_000),
            metadata: [{}, { org_id: 'acme' }, { org_id: '' }, { orgId: 'globex', user_id: 'u1' }][rnd(4)]!,
          }),
        );
      }
      // A few exactly on day boundaries.
      events.push(makeEvent({ timestamp: T0 + DAY }), makeEvent({ timestamp: T0 + 2 * DAY - 1 }), makeEvent({ timestamp: T0 + 3 * DAY }));
      await store.append(shuffled(events, 11));
      await store.flush();
      const H = 3_600_000;
      const ranges: Array<[number | undefined, number | undefined]> = [
        [undefined, undefined],
        [T0 + DAY, T0 + 3 * DAY],
        [T0 + DAY + 5 * H, T0 + 3 * DAY + 7 * H],
        [T0 + DAY + 5 * H, T0 + DAY + 9 * H],
        [T0 + DAY + 5 * H, T0 + 2 * DAY + 1],
        [T0 + 2 * DAY - 1, T0 + 2 * DAY],
        [T0 + 12 * H, undefined],
        [undefined, T0 + 4 * DAY + 1],
        [T0 + 3 * DAY, T0 + 3 * DAY + 1],
      ];
      const filters: Array<Record<string, string>> = [{}, { orgId: 'acme' }, { orgId: 'globex' }, { agentId: 'a' }, { model: 'o3', provider: 'azure' }, { userId: 'u1' }, { threadId: 't2', orgId: 'acme' }];
      const matches = (e: UsageEvent, f: Record<string, string>): boolean =>
        (f.orgId === undefined || (e.metadata.org_id ?? e.metadata.orgId) === f.orgId) &&
        (f.userId === undefined || e.metadata.user_id === f.userId) &&
        (f.agentId === undefined || e.agentId === f.agentId) &&
        (f.model === undefined || e.model === f.model) &&
        (f.provider === undefined || e.provider === f.provider) &&
        (f.threadId === undefined || e.threadId === f.threadId);
      for (const [since, until] of ranges) {
        for (const f of filters) {
          const filter = { ...f, ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) };
          const subset = events.filter(
            (e) => (since === undefined || e.timestamp >= since) && (until === undefined || e.timestamp < until) && matches(e, f),
          );
          const label = JSON.stringify(filter);
          const nanos = subset.reduce((a, e) => a + BigInt(e.costNanos ?? 0), 0n);
          const unpriced = subset.filter((e) => e.costNanos === undefined).length;
          expect(await store.count(filter), label).toBe(subset.length);
          const s = await store.summary(filter);
          expect(s.totals.requestCount, label).toBe(subset.length);
          expect(s.totals.costNanos, label).toBe(subset.length > 0 && unpriced === subset.length ? null : Number(nanos));
          expect(s.totals.unpricedCount, label).toBe(unpriced);
          expect(s.totals.totalTokens, label).toBe(subset.reduce((a, e) => a + e.totalTokens, 0));
          for (const a of s.byAgent) {
            expect(a.requestCount, label).toBe(subset.filter((e) => e.agentId === a.agentId).length);
          }
          expect(s.byAgent.reduce((a, g) => a + g.requestCount, 0), label).toBe(subset.length);
          const days = new Map<string, number>();
          for (const e of subset) days.set(new Date(e.timestamp).toISOString().slice(0, 10), (days.get(new Date(e.timestamp).toISOString().slice(0, 10)) ?? 0) + 1);
          const series = await store.daily(filter);
          expect(series.map((d) => [d.date, d.requestCount]), label).toEqual([...days].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
        }
      }
    });

    it('persists every event a UsageTracker records once attached, and stops when detached', async () => {
      const store = await fresh();
      const tracker = new UsageTracker({
        estimateCostNanos: (_model, u) => u.promptTokens * 2_500 + u.completionTokens * 10_000,
        onError: (err) => {
          throw err;
        },
      });
      const detach = store.attach(tracker);
      const recorded: UsageEvent[] = [];
      for (let i = 0; i < 25; i++) {
        recorded.push(
          tracker.record({
            threadId: `t${i % 3}`,
            agentId: 'writer',
            model: 'gpt-4o',
            provider: 'openai',
            promptTokens: 100 + i,
            completionTokens: 10 * i,
            latencyMs: 5,
            metadata: { org_id: 'acme' },
          }),
        );
      }
      detach();
      detach(); // idempotent
      tracker.record({ model: 'gpt-4o', provider: 'openai', promptTokens: 1, completionTokens: 1, latencyMs: 1 });
      await store.flush();
      expect(await store.count()).toBe(25);
      const stored = await allPages(store, { limit: 10 });
      expect(stored.map((e) => e.id).sort()).toEqual(recorded.map((e) => e.id).sort());
      const s = await store.summary({ orgId: 'acme' });
      expect(s.totals.costNanos).toBe(tracker.getTotals().totalCostNanos - (2_500 + 10_000));
    });

    it('rejects bad limits, cursors, dates, unknown filter keys and malformed events, naming the field', async () => {
      const store = await fresh();
      await store.append([makeEvent(), makeEvent()]);
      await store.flush();
      for (const limit of [0, -1, 1001, 1.5, Number.NaN, '10' as unknown as number]) {
        expectValidation(await store.query({ limit }).catch((e: unknown) => e), 'limit');
      }
      for (const cursor of ['', 'nope', 'c1.!!!', 'c1.' + Buffer.from('{"a":1}').toString('base64url'), 42 as unknown as string]) {
        expectValidation(await store.query({ cursor }).catch((e: unknown) => e), 'cursor');
      }
      expectValidation(await store.query({ since: new Date('not a date') }).catch((e: unknown) => e), 'since');
      expectValidation(await store.count({ until: '2025-01-01' as unknown as number }).catch((e: unknown) => e), 'until');
      expectValidation(await store.summary({ since: T0 + 10, until: T0 }).catch((e: unknown) => e), 'until');
      expectValidation(await store.daily({ since: Number.POSITIVE_INFINITY }).catch((e: unknown) => e), 'since');
      expectValidation(await store.count({ org: 'acme' } as unknown as object).catch((e: unknown) => e), 'org');
      expectValidation(await store.count({ orgId: '' }).catch((e: unknown) => e), 'orgId');
      const bad = { ...makeEvent(), timestamp: -5 };
      expectValidation(await store.append([makeEvent(), bad]).catch((e: unknown) => e), 'events[1].timestamp');
      expectValidation(await store.append({ ...makeEvent(), costNanos: 1.5 }).catch((e: unknown) => e), 'event.costNanos');
      expectValidation(await store.append({ ...makeEvent(), id: '' }).catch((e: unknown) => e), 'event.id');
      expectValidation(await store.append({ ...makeEvent(), model: 'a\u0000b' }).catch((e: unknown) => e), 'event.model');
      expectValidation(await store.append({ ...makeEvent(), metadata: { note: 'x\u0000' } }).catch((e: unknown) => e), 'event.metadata.note');
      await store.flush();
      expect(await store.count()).toBe(2); // nothing from a rejected batch was stored
      const page = await store.query({ limit: 1 });
      expect((await store.query({ limit: 1, cursor: page.nextCursor })).events).toHaveLength(1);
    });
  });
}
