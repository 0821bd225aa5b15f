/**
 * The guarantees of budget policies (issue 14, Checks), against gateway PROCESSES built from dist
 * (`npm run -s build` first) in front of a counting fake OpenAI upstream on 127.0.0.1:
 * - 1,000 concurrent calls of one user under a daily user policy and a monthly org policy never exceed
 *   either; each policy's `spent_usd` equals the stored events' cost exactly (integer nanos); refused
 *   calls never reach the upstream; no hold is left (memory ledger, one process);
 * - the same with the Redis policy ledger and two gateway processes sharing one PostgreSQL store, and an
 *   rpm limit shared by both;
 * - `kill -9` with calls in flight: every standing's spend is the same after a restart, holds are gone;
 *   with a PostgreSQL store whose writes lag, the new process restores only once the spool is written;
 * - a Redis restart (its data lost): every standing's spend is the same, restored from the store;
 * - rate limits: N calls in a minute pass with `x-ratelimit-remaining-requests` counting down, the next
 *   is refused with `Retry-After` to the next UTC minute.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { startServeProcess, type ServeProcess } from '../support/serve-process.js';
import { DATABASE_URL, REDIS_URL } from '../support/services.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../stores/ledgers/redis/throwaway-redis.js';
import {
  chat,
  nanos,
  PROMPT_ESTIMATE,
  standing,
  storedSpend,
  waitFor,
  writeServeConfig,
  type ChatResult,
  type Standing,
} from './policy-guarantees-support.js';
import { checkConcurrentRun, concurrentRunPlan } from './policy-guarantees-run.js';

let dir: string;
const processes: ServeProcess[] = [];
const upstreams: Array<FakeServer<OpenAIScenario>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-guarantees-'));
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await Promise.all(upstreams.map((u) => u.close()));
  await rm(dir, { recursive: true, force: true });
});

async function upstream(): Promise<FakeServer<OpenAIScenario>> {
  const u = await startFakeOpenAIServer();
  upstreams.push(u);
  return u;
}

async function serve(file: string): Promise<ServeProcess> {
  const p = await startServeProcess(file);
  processes.push(p);
  return p;
}

describe('1,000 concurrent calls of one user (memory ledger, one gateway process, SQLite)', () => {
  it('never exceed the user or the org policy; spent equals the stored cost exactly; refused calls never reach the upstream; no hold is left', async () => {
    const up = await upstream();
    const plan = concurrentRunPlan();
    const file = await writeServeConfig({ dir, name: 'concurrent-memory', upstream: up.url, policies: plan.policies });
    const gw = await serve(file);
    const pool = new Pool(gw.url, { connections: 256 });
    try {
      await checkConcurrentRun({ urls: [gw.url], pools: [pool], upstream: up, plan });
    } finally {
      await pool.close();
    }
  }, 120_000);
});

const describeRedisAndPostgres = REDIS_URL && DATABASE_URL ? describe : describe.skip;

describeRedisAndPostgres('1,000 concurrent calls of one user split across two gateway processes (Redis ledger, one PostgreSQL store)', () => {
  const id = randomUUID().slice(0, 8);
  const prefix = `tw-guar-${id}:`;
  const table = `tw_guar_${id}`;
  afterAll(async () => {
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    const db = new pg.Pool({ connectionString: DATABASE_URL });
    const { rows } = await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE $1`, [`${table}%`]);
    for (const { tablename } of rows) await db.query(`DROP TABLE IF EXISTS "${tablename}" CASCADE`);
    await db.end();
  });

  it('never exceed the user or the org policy across both; spent equals the stored cost exactly; refused calls never reach the upstream; no hold is left', async () => {
    const up = await upstream();
    const plan = concurrentRunPlan();
    const config = (name: string): Promise<string> =>
      writeServeConfig({
        dir,
        name,
        upstream: up.url,
        policies: plan.policies,
        store: `{ postgres: "${DATABASE_URL}", table: ${table}, spool: "${join(dir, `${name}.spool`)}" }`,
        ledger: `{ url: "${REDIS_URL}", key_prefix: "${prefix}" }`,
      });
    // One after the other: the first creates the table.
    const a = await serve(await config('redis-a'));
    const b = await serve(await config('redis-b'));
    const pools = [new Pool(a.url, { connections: 128 }), new Pool(b.url, { connections: 128 })];
    try {
      await checkConcurrentRun({ urls: [a.url, b.url], pools, upstream: up, plan });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  }, 180_000);

  it('an rpm limit holds across both: of 40 concurrent calls in one minute exactly rpm pass', async () => {
    const up = await upstream();
    const rpm = 10;
    const config = (name: string): Promise<string> =>
      writeServeConfig({
        dir,
        name,
        upstream: up.url,
        policies: [`{ name: org-rate, scope: org, rpm: ${rpm} }`],
        store: `{ postgres: "${DATABASE_URL}", table: ${table}, spool: "${join(dir, `${name}.spool`)}" }`,
        ledger: `{ url: "${REDIS_URL}", key_prefix: "${prefix}rate:" }`,
      });
    const a = await serve(await config('rate-a'));
    const b = await serve(await config('rate-b'));
    const pools = [new Pool(a.url, { connections: 20 }), new Pool(b.url, { connections: 20 })];
    try {
      while (Date.now() % 60_000 > 40_000) await new Promise((r) => setTimeout(r, 200));
      const minute = Math.floor(Date.now() / 60_000);
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(pools[i % 2]!, { org: 'acme', user: `u-${i}` }, 10)));
      expect(Math.floor(Date.now() / 60_000), 'the calls stayed within one UTC minute').toBe(minute);
      const codes = results.map((r) => (r.status === 200 ? 'ok' : `${r.status} ${String(r.body.error?.code)}`));
      expect(codes.filter((c) => c === 'ok')).toHaveLength(rpm);
      expect(codes.filter((c) => c !== 'ok')).toEqual(Array.from({ length: 40 - rpm }, () => '429 rate_limit_exceeded'));
      expect(up.requests).toHaveLength(rpm);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  }, 120_000);
});

/** Policies over every scope a call of the kill test names, with windows of each kind (day, month, week, lifetime). */
const KILL_POLICIES = [
  '{ name: user-daily, scope: user, max_usd: 1, window: 1d }',
  '{ name: org-monthly, scope: org, max_usd: 10, max_tokens: 1000000, window: 1mo }',
  '{ name: agent-life, scope: agent, max_tokens: 1000000 }',
  '{ name: model-weekly, scope: model, max_tokens: 5000000, window: 1w }',
  '{ name: all-usd, scope: global, max_usd: 100 }',
];
/** Every line the kill test's calls touch: [policy, entity as an admin names it]. */
const KILL_LINES: Array<[string, string]> = [
  ['user-daily', 'acme/u-1'],
  ['user-daily', 'acme/u-2'],
  ['user-daily', 'beta/u-1'],
  ['org-monthly', 'acme'],
  ['org-monthly', 'beta'],
  ['agent-life', 'acme/a-1'],
  ['agent-life', 'beta/a-2'],
  ['model-weekly', 'guard-model'],
  ['all-usd', '*'],
];
const WHO = [
  { org: 'acme', user: 'u-1', agent: 'a-1' },
  { org: 'acme', user: 'u-2' },
  { org: 'beta', user: 'u-1', agent: 'a-2' },
  { org: 'acme', agent: 'a-1' },
];

async function readAll(url: string): Promise<Standing[]> {
  return Promise.all(KILL_LINES.map(([p, e]) => standing(url, p, e)));
}

/** What must survive a restart: the window, the limits and the spend (not holds, nor `remaining_*` which count them). */
const kept = (s: Standing) => ({
  policy: s.policy,
  entity: s.entity,
  window_start: s.window_start,
  resets_at: s.resets_at,
  max_usd: s.max_usd,
  max_tokens: s.max_tokens,
  spent_usd: s.spent_usd,
  used_tokens: s.used_tokens,
});

describe('kill -9 (memory ledger, SQLite)', () => {
  it('a new process on the same config has every standing\'s spend exactly; the holds of calls in flight at the kill are gone and never charged', async () => {
    const up = await upstream();
    const file = await writeServeConfig({ dir, name: 'kill', upstream: up.url, policies: KILL_POLICIES });
    const first = await serve(file);
    const pool = new Pool(first.url, { connections: 16 });
    // Answered calls of several users, agents and orgs, each with its own usage.
    up.enqueue(...Array.from({ length: 24 }, (_, i): OpenAIScenario => ({ kind: 'ok', usage: { prompt_tokens: PROMPT_ESTIMATE - (i % 3), completion_tokens: 1 + (i % 9) } })));
    const answered = await Promise.all(Array.from({ length: 24 }, (_, i) => chat(pool, WHO[i % WHO.length]!, 10)));
    expect(answered.map((r) => r.status)).toEqual(answered.map(() => 200));
    expect((await storedSpend(first.url, {})).events).toBe(24);

    // Calls in flight at the kill: the upstream holds them.
    up.setDefault({ kind: 'ok', delayMs: 120_000 });
    const sent = up.requests.length;
    const inflight = WHO.map((who) => chat(pool, who, 10).then(
      (r) => r.status,
      () => 'cut' as const,
    ));
    await waitFor('the calls in flight to reach the upstream', () => up.requests.length === sent + WHO.length);
    const before = await readAll(first.url);
    // The calls in flight are held, not charged.
    expect(before.some((s) => s.reserved_usd > 0 || s.reserved_tokens > 0)).toBe(true);
    for (const s of before) expect(s.spent_usd > 0 || s.used_tokens > 0, `${s.policy} ${s.entity} has spend`).toBe(true);

    await first.stop('SIGKILL');
    expect(await Promise.all(inflight)).toEqual(WHO.map(() => 'cut'));
    await pool.destroy();

    const second = await serve(file);
    const after = await readAll(second.url);
    expect(after.map(kept)).toEqual(before.map(kept));
    for (const s of after) expect({ policy: s.policy, entity: s.entity, reserved_usd: s.reserved_usd, reserved_tokens: s.reserved_tokens }).toEqual({ policy: s.policy, entity: s.entity, reserved_usd: 0, reserved_tokens: 0 });
    // And they are the record's: the org-wide and global lines equal the stored events exactly.
    const all = await storedSpend(second.url, {});
    expect(all.events).toBe(24);
    const global = after.find((s) => s.policy === 'all-usd')!;
    expect(nanos(global.spent_usd)).toBe(all.costNanos);
    const acme = await storedSpend(second.url, { org_id: 'acme' });
    const acmeLine = after.find((s) => s.policy === 'org-monthly' && s.entity === 'acme')!;
    expect({ nanos: nanos(acmeLine.spent_usd), tokens: acmeLine.used_tokens }).toEqual({ nanos: acme.costNanos, tokens: acme.tokens });
    await second.stop('SIGKILL');
  }, 120_000);
});

const describePostgres = DATABASE_URL ? describe : describe.skip;

describePostgres('kill -9 with a PostgreSQL store whose writes lag behind (memory ledger)', () => {
  const table = `tw_guar_lag_${randomUUID().slice(0, 8)}`;
  const db = DATABASE_URL ? new pg.Pool({ connectionString: DATABASE_URL }) : undefined;
  afterAll(async () => {
    await db?.query(`DROP TABLE IF EXISTS "${table}", "${table}_daily", "${table}_migrations" CASCADE`);
    await db?.end();
  });

  it('a new process serves only once the spool of the killed one is in the database: no acknowledged call is missing from the restored spend', async () => {
    const up = await upstream();
    up.setDefault({ kind: 'ok', usage: { prompt_tokens: PROMPT_ESTIMATE, completion_tokens: 5 } });
    const store = `{ postgres: "${DATABASE_URL}", table: ${table}, spool: "${join(dir, 'lag.spool')}" }`;
    const file = await writeServeConfig({ dir, name: 'lag', upstream: up.url, policies: KILL_POLICIES.slice(0, 2), store });
    const first = await serve(file);
    const pool = new Pool(first.url, { connections: 4 });
    const locker = await db!.connect();
    try {
      for (let i = 0; i < 3; i++) expect((await chat(pool, WHO[0]!, 10)).status).toBe(200);
      await storedSpend(first.url, {}); // in the database
      // Writes to the table wait (reads go on): the next calls are acknowledged from the spool only.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${table}" IN SHARE MODE`);
      for (let i = 0; i < 3; i++) expect((await chat(pool, WHO[0]!, 10)).status).toBe(200);
      const before = await Promise.all([standing(first.url, 'user-daily', 'acme/u-1'), standing(first.url, 'org-monthly', 'acme')]);
      expect(nanos(before[1].spent_usd)).toBe(6 * (PROMPT_ESTIMATE * 1000 + 5 * 4000));
      await first.stop('SIGKILL');
      await pool.destroy();

      const starting = serve(file);
      const early = await Promise.race([starting, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000))]);
      // Serving while its predecessor's events cannot reach the database would restore spend without them.
      if (early) expect((await standing(early.url, 'org-monthly', 'acme')).spent_usd).toBe(before[1].spent_usd);
      await locker.query('COMMIT');
      const second = await starting;
      const after = await Promise.all([standing(second.url, 'user-daily', 'acme/u-1'), standing(second.url, 'org-monthly', 'acme')]);
      expect(after.map(kept)).toEqual(before.map(kept));
      expect((await storedSpend(second.url, {})).events).toBe(6);
      await second.stop('SIGKILL');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
      await pool.close().catch(() => undefined);
    }
  }, 120_000);
});

const describeRedis = REDIS_URL ? describe : describe.skip;

describeRedis('a Redis restart (Redis ledger, SQLite)', () => {
  let redis: ThrowawayRedis | undefined;
  afterAll(async () => {
    await redis?.stop();
  });

  it('loses no spend: every standing after Redis comes back empty equals the one before (restored from the store)', async () => {
    redis = await startThrowawayRedis();
    const up = await upstream();
    const file = await writeServeConfig({ dir, name: 'redis-restart', upstream: up.url, policies: KILL_POLICIES, ledger: `{ url: "${redis.url}", key_prefix: "tw-guar-restart:" }` });
    const gw = await serve(file);
    const pool = new Pool(gw.url, { connections: 16 });
    try {
      up.enqueue(...Array.from({ length: 24 }, (_, i): OpenAIScenario => ({ kind: 'ok', usage: { prompt_tokens: PROMPT_ESTIMATE - (i % 3), completion_tokens: 1 + (i % 9) } })));
      const answered = await Promise.all(Array.from({ length: 24 }, (_, i) => chat(pool, WHO[i % WHO.length]!, 10)));
      expect(answered.map((r) => r.status)).toEqual(answered.map(() => 200));
      const before = await readAll(gw.url);
      for (const s of before) expect(s.spent_usd > 0 || s.used_tokens > 0, `${s.policy} ${s.entity} has spend`).toBe(true);

      await redis.kill();
      await redis.start(); // same port, no data
      const probe = new Redis(redis.url);
      expect(await probe.dbsize()).toBe(0);
      await probe.quit();
      // The gateway reconnects; until then it may answer 503.
      let after: Standing[] | undefined;
      await waitFor('the standings to be readable after the Redis restart', async () => {
        after = await readAll(gw.url).catch(() => undefined);
        return after !== undefined;
      }, 30_000);
      expect(after!.map(kept)).toEqual(before.map(kept));
      for (const s of after!) expect([s.reserved_usd, s.reserved_tokens]).toEqual([0, 0]);
      // And the lines go on from there: one more call is charged on top of the restored spend.
      up.enqueue({ kind: 'ok', usage: { prompt_tokens: PROMPT_ESTIMATE, completion_tokens: 5 } });
      // Readiness is cached (refreshed every 2 s): calls are refused 503 not_ready until it sees Redis again.
      let more: ChatResult | undefined;
      await waitFor('a call to pass after the Redis restart', async () => {
        more = await chat(pool, WHO[0]!, 10);
        if (more.status === 503 && more.body.error?.code === 'not_ready') return false;
        expect(more.status, JSON.stringify(more.body)).toBe(200);
        return true;
      });
      const global = await standing(gw.url, 'all-usd', '*');
      expect(nanos(global.spent_usd)).toBe((await storedSpend(gw.url, {})).costNanos);
      expect(global.used_tokens).toBe(before.find((s) => s.policy === 'all-usd')!.used_tokens + more!.body.usage!.total_tokens);
    } finally {
      await pool.close();
      await gw.stop('SIGKILL');
    }
  }, 120_000);
});

describe('rate limits at a gateway process', () => {
  it('N calls in one minute pass with x-ratelimit-remaining-requests counting down; the next gets 429 and Retry-After to the next UTC minute', async () => {
    const up = await upstream();
    const rpm = 5;
    const file = await writeServeConfig({ dir, name: 'rate', upstream: up.url, policies: [`{ name: user-rate, scope: user, rpm: ${rpm} }`] });
    const gw = await serve(file);
    const pool = new Pool(gw.url, { connections: 4 });
    try {
      // Start early in a minute so that the N + 1 calls share it even on a loaded machine.
      while (Date.now() % 60_000 > 30_000) await new Promise((r) => setTimeout(r, 200));
      const minute = Math.floor(Date.now() / 60_000);
      const remaining: string[] = [];
      for (let i = 0; i < rpm; i++) {
        const r: ChatResult = await chat(pool, { org: 'acme', user: 'u-rate' }, 10);
        expect(r.status).toBe(200);
        expect(r.headers['x-ratelimit-limit-requests']).toBe(String(rpm));
        remaining.push(String(r.headers['x-ratelimit-remaining-requests']));
      }
      expect(remaining).toEqual(['4', '3', '2', '1', '0']);
      const sentAt = Date.now();
      const over = await chat(pool, { org: 'acme', user: 'u-rate' }, 10);
      const answeredAt = Date.now();
      expect(Math.floor(answeredAt / 60_000), 'the test stayed within one UTC minute').toBe(minute);
      expect(over.status).toBe(429);
      expect(over.body.error).toMatchObject({ code: 'rate_limit_exceeded', policy: 'user-rate', scope: 'user', entity: 'acme/u-rate', limit: 'requests', max: rpm });
      const nextMinute = (minute + 1) * 60_000;
      const retryAfter = Number(over.headers['retry-after']);
      // Whole seconds to the next UTC minute, as seen between sending and the answer (±1 s).
      expect(retryAfter).toBeGreaterThanOrEqual(Math.ceil((nextMinute - answeredAt) / 1000) - 1);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil((nextMinute - sentAt) / 1000) + 1);
      expect(over.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(up.requests).toHaveLength(rpm);
      // Another user of the same org has a minute of its own.
      expect((await chat(pool, { org: 'acme', user: 'u-other' }, 10)).status).toBe(200);
    } finally {
      await pool.close();
      await gw.stop('SIGKILL');
    }
  }, 120_000);
});

