/**
 * Several gateway PROCESSES (the built `tokenwarden serve`, as deployed) sharing one Redis ledger taken
 * from their config files: no overspending under concurrency split between them, and the holds of an
 * instance killed mid-flight expire so the thread's remaining budget is exact afterwards.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildRuntime } from '../../src/server/build-runtime.js';
import { loadConfig } from '../../src/server/load-config.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { auditRedisThread } from '../stores/ledgers/redis/redis-audit.js';
import { startThrowawayRedis } from '../stores/ledgers/redis/throwaway-redis.js';
import { SERVE_MAIN, startServeProcess, type ServeProcess } from '../support/serve-process.js';
import { describeRedis, REDIS_URL } from '../support/services.js';

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describeRedis('gateways sharing a Redis ledger from their config', () => {
  const prefix = `tw-gwtest-${randomUUID().slice(0, 8)}:`;
  let dir: string;
  let redis: Redis;
  const instances: ServeProcess[] = [];

  async function config(name: string, mock: string): Promise<string> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `server: { port: 0 }
store: { sqlite: ./${name}.db }
ledger: { url: "${REDIS_URL}", key_prefix: "${prefix}", reservation_ttl_ms: 1500 }
providers:
  backends:
    - { name: mock, provider: mock, models: ["*"], mock: ${mock} }
`,
    );
    return file;
  }

  beforeAll(async () => {
    expect(existsSync(SERVE_MAIN), 'dist/cli/main.js is missing: run `npm run build` first').toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'tw-multi-gw-'));
    redis = new Redis(REDIS_URL!);
  });
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop('SIGKILL')));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('never overspends a thread with 1 000 concurrent requests split between two gateways', async () => {
    const mockOptions = '{ completion_tokens: 5 }';
    const [a, b] = await Promise.all([startServeProcess(await config('a', mockOptions)), startServeProcess(await config('b', mockOptions))]);
    instances.push(a!, b!);
    const thread = 'shared-thread';
    const put = await json(`${a!.url}/v1/threads/${thread}/budget`, { method: 'PUT', body: JSON.stringify({ max_tokens: 3000 }) });
    expect(put.status).toBe(200);

    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count to three.' }], max_tokens: 5 });
    const pools = [new Pool(a!.url, { connections: 128 }), new Pool(b!.url, { connections: 128 })];
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await pools[i % 2]!.request({
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-thread-id': thread },
          body,
        });
        const parsed = (await res.body.json()) as { usage?: { total_tokens: number }; error?: { code: string } };
        return { status: res.statusCode, parsed };
      }),
    );
    await Promise.all(pools.map((p) => p.close()));

    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(1000);
    expect(refused.every((r) => r.parsed.error?.code === 'thread_budget_exhausted')).toBe(true);
    expect(ok.length).toBeGreaterThan(0);
    const charged = ok.reduce((s, r) => s + r.parsed.usage!.total_tokens, 0);
    expect(charged).toBeLessThanOrEqual(3000);

    // Both instances see the same, exact state; the raw Redis state agrees and is consistent.
    for (const inst of [a!, b!]) {
      const t = await json(`${inst.url}/v1/threads/${thread}`);
      expect(t.body).toMatchObject({ max_tokens: 3000, total_tokens: charged, reserved_tokens: 0, request_count: ok.length });
    }
    const audit = await auditRedisThread(redis, prefix, thread);
    expect(audit.problems).toEqual([]);
    expect(audit.chargedTokens).toBe(charged);
    expect(audit.liveHolds).toBe(0);
  }, 60_000);

  it('gives back the holds of an instance killed mid-flight within the TTL, leaving the budget exact', async () => {
    const healthy = instances[0]!;
    const slow = await startServeProcess(await config('slow', '{ completion_tokens: 5, latency_ms: 30000 }'));
    instances.push(slow);
    const thread = 'crash-thread';
    await json(`${healthy.url}/v1/threads/${thread}/budget`, { method: 'PUT', body: JSON.stringify({ max_tokens: 1000 }) });

    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Take your time.' }], max_tokens: 50 });
    const inflight = Array.from({ length: 4 }, () =>
      fetch(`${slow.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': thread }, body }).then(
        (r) => r.status,
        () => 'cut' as const,
      ),
    );
    // All four holds are taken (visible from the other instance).
    const deadline = Date.now() + 10_000;
    let reserved = 0;
    while (Date.now() < deadline) {
      reserved = (await json(`${healthy.url}/v1/threads/${thread}`)).body.reserved_tokens as number;
      if (reserved > 0 && (await auditRedisThread(redis, prefix, thread)).liveHolds === 4) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await auditRedisThread(redis, prefix, thread)).liveHolds).toBe(4);
    expect(reserved).toBeGreaterThan(0);

    await slow.stop('SIGKILL');
    expect(await Promise.all(inflight)).toEqual(['cut', 'cut', 'cut', 'cut']);

    // The holds lapse within the TTL (1.5 s) and nothing was charged for them.
    const killedAt = Date.now();
    let after = (await json(`${healthy.url}/v1/threads/${thread}`)).body;
    while (after.reserved_tokens !== 0 && Date.now() - killedAt < 5_000) {
      await new Promise((r) => setTimeout(r, 50));
      after = (await json(`${healthy.url}/v1/threads/${thread}`)).body;
    }
    expect(after).toMatchObject({ reserved_tokens: 0, total_tokens: 0, remaining_tokens: 1000, request_count: 0 });
    expect(Date.now() - killedAt).toBeLessThan(5_000);

    // The healthy instance carries on with the exact budget.
    const r = await json(`${healthy.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-thread-id': thread }, body });
    expect(r.status).toBe(200);
    const used = (r.body.usage as { total_tokens: number }).total_tokens;
    const final = await json(`${healthy.url}/v1/threads/${thread}`);
    expect(final.body).toMatchObject({ total_tokens: used, remaining_tokens: 1000 - used, reserved_tokens: 0 });
    expect((await auditRedisThread(redis, prefix, thread)).problems).toEqual([]);
  }, 60_000);
});

describeRedis('a gateway whose Redis ledger restarts under load', () => {
  it('answers 503 (not_ready or ledger_unavailable) while Redis is down, never crashes, and recovers when it returns', async () => {
    const server = await startThrowawayRedis();
    const dir = await mkdtemp(join(tmpdir(), 'tw-gw-restart-'));
    const file = join(dir, 'tokenwarden.yaml');
    await writeFile(file, `store: { sqlite: ./usage.db }\nledger: { url: "${server.url}", key_prefix: "tw-restart:" }\n`);
    const rt = await buildRuntime(await loadConfig({ file, env: {} }), { env: {} });
    const gateway = createGateway({ router: rt.router, store: rt.store, logError: () => undefined });
    const { port } = await gateway.listen(0, '127.0.0.1');
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    const outcomes = { ok: 0, unavailable: 0, other: [] as string[] };
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': 'restart' }, body });
        const parsed = (await res.body.json()) as { error?: { code: string; message: string } };
        if (res.statusCode === 200) outcomes.ok++;
        // Refused before the ledger is asked (readiness already saw Redis down), or by the ledger itself.
        else if (res.statusCode === 503 && ['not_ready', 'ledger_unavailable'].includes(parsed.error?.code ?? '')) outcomes.unavailable++;
        else outcomes.other.push(`${res.statusCode} ${JSON.stringify(parsed)}`);
        if (res.statusCode !== 200) await new Promise((r) => setTimeout(r, 5));
      }
    };
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const end = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    try {
      await until(() => outcomes.ok >= 30, 'calls to succeed');
      await server.kill();
      const unavailableAtKill = outcomes.unavailable;
      await until(() => outcomes.unavailable >= unavailableAtKill + 10, 'calls to be refused while Redis is down');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      await server.start();
      const okAtRestart = outcomes.ok;
      await until(() => outcomes.ok >= okAtRestart + 30, 'calls to succeed again after Redis returned');
    } finally {
      stop = true;
      await Promise.all(workers);
      await pool.close();
      await gateway.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
    expect(outcomes.other).toEqual([]);
  }, 60_000);
});
