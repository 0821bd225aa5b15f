import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuntime, providersFromEnv } from '../../src/server/build-runtime.js';
import { InvalidConfigError } from '../../src/server/config-problems.js';
import { loadConfig } from '../../src/server/load-config.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { PostgresUsageStore } from '../../src/stores/usage/postgres/postgres-usage-store.js';
import { RedisBudgetLedger } from '../../src/stores/ledgers/redis/redis-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { DATABASE_URL, REDIS_URL, describePostgres } from '../support/services.js';
import { HELLO, call } from '../gateway/harness.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-runtime-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('buildRuntime', () => {
  it('builds SQLite + memory ledger + mock provider by default, with the configured budget', async () => {
    const config = await loadConfig({ env: { TOKENWARDEN_DB: join(dir, 'default.db'), TOKENWARDEN_DEFAULT_MAX_TOKENS: '321' }, cwd: dir });
    const rt = await buildRuntime(config, { env: {} });
    try {
      expect(rt.mock).toBe(true);
      expect(rt.store).toBeInstanceOf(SqliteUsageStore);
      expect((rt.store as SqliteUsageStore).writer).toBe('thread'); // commits off the event loop
      expect(rt.ledger).toBeInstanceOf(MemoryBudgetLedger);
      expect(rt.router.ledger).toBe(rt.ledger);
      expect(rt.router.tracker).toBe(rt.tracker);
      // The mock answers every model: it lists itself, then the catalog models of openai and anthropic.
      expect(rt.models[0]).toEqual({ id: 'mock', ownedBy: 'mock' });
      expect(rt.models).toContainEqual({ id: 'gpt-4o-mini', ownedBy: 'mock' });
      expect(rt.models).toContainEqual({ id: 'claude-sonnet-4-5', ownedBy: 'mock' });
      expect(rt.describe.providers[0]).toMatch(/^mock provider: no provider keys found/);
      const res = await rt.router.complete({ model: 'anything', messages: HELLO as never, threadId: 't', maxTokens: 10 });
      expect(res.provider).toBe('mock');
      expect((await rt.ledger.usage('t'))!.maxTokens).toBe(321);
    } finally {
      await rt.close();
    }
  });

  it('reports a provider whose key variable is missing as a config problem', async () => {
    const file = join(dir, 'missing-key.yaml');
    await writeFile(file, 'providers:\n  backends:\n    - { provider: anthropic, api_key_env: MY_ANTHROPIC_KEY }\n');
    const config = await loadConfig({ file, env: {} });
    const err = await buildRuntime(config, { env: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).problems[0]!.path).toBe('providers.backends[0].api_key_env');
    expect((err as Error).message).toContain('environment variable MY_ANTHROPIC_KEY is not set');
  });

  it('derives providers from the environment keys', () => {
    expect(providersFromEnv({})).toBeUndefined();
    expect(providersFromEnv({ OPENAI_API_KEY: 'sk' })).toEqual({
      strategy: 'failover',
      backends: [{ name: 'openai', provider: 'openai', api_key_env: 'OPENAI_API_KEY', models: ['gpt-*', 'chatgpt-*', 'o1*', 'o3*', 'o4*', 'ft:*', 'text-embedding-*'] }],
    });
    const both = providersFromEnv({ OPENAI_API_KEY: 'sk', ANTHROPIC_API_KEY: 'sk-ant', XAI_API_KEY: ' ' }) as { backends: Array<{ name: string; models: string[] }> };
    expect(both.backends.map((b) => b.name)).toEqual(['openai', 'anthropic']);
    expect(both.backends[0]!.models).toContain('gpt-*');
    expect(both.backends[1]!.models).toEqual(['claude-*']);
  });
});

describePostgres('a gateway on PostgreSQL and Redis, from its config', () => {
  const table = `tw_gw_${randomUUID().slice(0, 8)}`;
  const prefix = `tw-gwrt-${randomUUID().slice(0, 8)}:`;

  afterAll(async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS public.${table}`);
    await client.query(`DROP TABLE IF EXISTS public.${table}_migrations`);
    await client.end();
  });

  it('stores events in PostgreSQL and budgets in Redis, and serves them back', async () => {
    if (!REDIS_URL) throw new Error('REDIS_URL is required with DATABASE_URL for this test');
    const file = join(dir, 'pg.yaml');
    await writeFile(
      file,
      `store: { postgres: "${DATABASE_URL}", table: ${table}, spool: ./spool/${table}.jsonl }
ledger: { url: "${REDIS_URL}", key_prefix: "${prefix}" }
budgets: { default_max_tokens: 777 }
`,
    );
    const config = await loadConfig({ file, env: {} });
    const rt = await buildRuntime(config, { env: {} });
    expect(rt.store).toBeInstanceOf(PostgresUsageStore);
    expect(rt.ledger).toBeInstanceOf(RedisBudgetLedger);
    expect(rt.describe.ledger).toContain('redis');
    const gateway = createGateway({ router: rt.router, store: rt.store, models: rt.models, logError: () => undefined });
    const { port } = await gateway.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    try {
      const r = await call(`${url}/v1/chat/completions`, {
        headers: { 'x-thread-id': 'pg-thread', 'x-org-id': 'acme', 'x-agent-id': 'writer' },
        body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 20 },
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-budget-limit')).toBe('777');
      const events = await call(`${url}/v1/usage/events?org_id=acme&thread_id=pg-thread`);
      const data = events.body.data as Array<Record<string, unknown>>;
      expect(data).toHaveLength(1);
      expect(data[0]).toMatchObject({ thread_id: 'pg-thread', org_id: 'acme', agent_id: 'writer', provider: 'mock' });
      const thread = await call(`${url}/v1/threads/pg-thread`, { headers: { 'x-org-id': 'acme' } });
      expect(thread.body).toMatchObject({ max_tokens: 777, request_count: 1 });
      await call(`${url}/v1/threads/pg-thread`, { method: 'DELETE', headers: { 'x-org-id': 'acme' } });
    } finally {
      await gateway.close();
    }
    const reopened = new PostgresUsageStore({ connectionString: DATABASE_URL, table, spoolPath: false });
    try {
      expect(await reopened.count({ orgId: 'acme' })).toBe(1);
    } finally {
      await reopened.close();
    }
  });
});
