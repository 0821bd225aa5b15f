/**
 * Finding 2 of issue 11, end to end: a real gateway built from a config file (buildRuntime: memory ledger
 * + SQLite store) with keys for two orgs. One org cannot stop another from opening threads; idle threads
 * leave memory and come back with their spend, and so does every thread after a restart (a new gateway on
 * the same SQLite file).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuntime, type Runtime } from '../../src/server/build-runtime.js';
import { loadConfig } from '../../src/server/load-config.js';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { call, errorOf, HELLO } from './harness.js';
import { describeRedis, REDIS_URL } from '../support/services.js';

const KEY_A = 'sk-org-a-test-key';
const KEY_B = 'sk-org-b-test-key';
const KEY_ADMIN = 'sk-admin-test-key';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-threads-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  url: string;
  rt: Runtime;
  gateway: Gateway;
  close(): Promise<void>;
}

async function start(file: string): Promise<Running> {
  const rt = await buildRuntime(await loadConfig({ file, env: {} }), { env: {} });
  const gateway = createGateway({ router: rt.router, store: rt.store, keys: rt.keys, models: rt.models, logError: () => undefined });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    rt,
    gateway,
    async close() {
      await gateway.close(); // flushes and closes the store and the ledger
      await rt.close();
    },
  };
}

async function chat(url: string, key: string, thread: string) {
  return call(`${url}/v1/chat/completions`, {
    headers: { authorization: `Bearer ${key}`, 'x-thread-id': thread },
    body: { model: 'mock', messages: HELLO, max_tokens: 20 },
  });
}

async function liveThreadsMetric(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY_ADMIN}` } })).text();
  return Number(/^tokenwarden_live_threads (\d+)/m.exec(text)![1]);
}

async function configFile(name: string, budgets: string, ledger = 'memory'): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    [
      `budgets: { default_max_tokens: 100000, ${budgets} }`,
      `ledger: ${ledger}`,
      `store: { sqlite: ${JSON.stringify(join(dir, `${name}.db`))} }`,
      'keys:',
      `  - { name: a, hash: "sha256:${sha(KEY_A)}", org: orgA }`,
      `  - { name: b, hash: "sha256:${sha(KEY_B)}", org: orgB }`,
      `  - { name: ops, hash: "sha256:${sha(KEY_ADMIN)}", admin: true }`,
      '',
    ].join('\n'),
  );
  return file;
}

describe('gateway threads: per-org cap, idle expiry, restore from the store', () => {
  it('an org at max_threads_per_org gets 429 too_many_threads naming only its own thread id; another org opens threads', async () => {
    const g = await start(await configFile('cap', 'max_threads_per_org: 3'));
    try {
      for (const t of ['t1', 't2', 't3']) expect((await chat(g.url, KEY_A, t)).status).toBe(200);
      const refused = await chat(g.url, KEY_A, 'brand-new-a');
      expect(refused.status).toBe(429);
      expect(errorOf(refused.body).code).toBe('too_many_threads');
      expect(errorOf(refused.body).message).toContain('"brand-new-a"');
      expect(JSON.stringify(refused.body)).not.toContain('orgA');
      expect(refused.headers.get('x-should-retry')).toBe('false');
      // Org B is not affected, and org A's open threads go on.
      expect((await chat(g.url, KEY_B, 'brand-new-b')).status).toBe(200);
      expect((await chat(g.url, KEY_A, 't2')).status).toBe(200);
      expect(await liveThreadsMetric(g.url)).toBe(4);
    } finally {
      await g.close();
    }
  });

  it('a thread comes back with its spend after it idled out of memory, and after a restart', async () => {
    const file = await configFile('restore', 'max_threads_per_org: 2, thread_idle_ttl: 1s');
    let g = await start(file);
    let spent: number;
    try {
      const first = await chat(g.url, KEY_A, 'kept');
      expect(first.status).toBe(200);
      spent = Number(first.headers.get('x-budget-used'));
      expect(spent).toBeGreaterThan(0);
      await chat(g.url, KEY_A, 'other');
      expect((await chat(g.url, KEY_A, 'third')).status).toBe(429); // org A is at its cap of 2

      // Idle for more than thread_idle_ttl: both leave memory on the next thread creation.
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect((await chat(g.url, KEY_B, 'wake')).status).toBe(200);
      const ledger = g.rt.ledger as MemoryBudgetLedger;
      expect(ledger.registry.hasBudget('orgA/kept')).toBe(false);
      expect(await liveThreadsMetric(g.url)).toBe(1);
      // Read without coming back into memory; then back with its spend on its next call.
      const shown = await call(`${g.url}/v1/threads/kept`, { headers: { authorization: `Bearer ${KEY_A}` } });
      expect(shown.status).toBe(200);
      expect(JSON.stringify(shown.body)).toContain(`${spent}`);
      const again = await chat(g.url, KEY_A, 'kept');
      expect(again.status).toBe(200);
      spent = Number(again.headers.get('x-budget-used'));
      expect(spent).toBe(2 * Number(first.headers.get('x-budget-used')));
    } finally {
      await g.close();
    }

    // Restart: a new gateway on the same SQLite file forgets nothing.
    g = await start(file);
    try {
      expect(await liveThreadsMetric(g.url)).toBe(0);
      const after = await chat(g.url, KEY_A, 'kept');
      expect(after.status).toBe(200);
      expect(Number(after.headers.get('x-budget-used'))).toBe(spent + spent / 2);
      // Org B's thread of the same name is its own.
      const b = await chat(g.url, KEY_B, 'kept');
      expect(Number(b.headers.get('x-budget-used'))).toBe(spent / 2);
    } finally {
      await g.close();
    }
  });
});

describeRedis('gateway threads on the Redis ledger', () => {
  it('an org at max_threads_per_org gets 429 across gateway instances; another org opens threads; a Redis that lost its data forgets no spend', async () => {
    const prefix = `tw-test-gw-groups:${randomUUID().slice(0, 8)}:`;
    const file = await configFile('redis-cap', 'max_threads_per_org: 2', `{ url: ${JSON.stringify(REDIS_URL)}, key_prefix: "${prefix}" }`);
    const one = await start(file);
    const two = await start(file);
    try {
      expect((await chat(one.url, KEY_A, 'r1')).status).toBe(200);
      expect((await chat(two.url, KEY_A, 'r2')).status).toBe(200);
      const refused = await chat(two.url, KEY_A, 'r3');
      expect(refused.status).toBe(429);
      expect(errorOf(refused.body).code).toBe('too_many_threads');
      expect(JSON.stringify(refused.body)).not.toContain('orgA');
      expect((await chat(one.url, KEY_B, 'r3')).status).toBe(200);
      const r2 = await chat(one.url, KEY_A, 'r2');
      expect(r2.status).toBe(200);
      const used = Number(r2.headers.get('x-budget-used'));
      // Redis loses every key (a restart without persistence): the spend comes back from the store.
      const wipe = new Redis(REDIS_URL!);
      await wipe.del(...(await wipe.keys(`${prefix}*`)));
      await wipe.quit();
      const after = await chat(two.url, KEY_A, 'r2');
      expect(after.status).toBe(200);
      expect(Number(after.headers.get('x-budget-used'))).toBe(used * 1.5);
    } finally {
      await one.close();
      await two.close();
      const admin = new Redis(REDIS_URL!);
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
    }
  });
});
