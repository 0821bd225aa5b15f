import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageCommitter } from '../../src/usage/usage-committer.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { HELLO, call, errorOf, startTestGateway } from '../gateway/harness.js';

function events(n: number): UsageEvent[] {
  const tracker = new UsageTracker();
  return Array.from({ length: n }, (_, i) =>
    tracker.record({ threadId: `t${i}`, model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, latencyMs: 1 }),
  );
}

describe('UsageCommitter', () => {
  it('writes the events of one event-loop turn in one batch and resolves durable() after it', async () => {
    const store = new SqliteUsageStore({ path: ':memory:' });
    const batches: number[] = [];
    const appendSync = store.appendSync.bind(store);
    store.appendSync = (evs) => {
      const list = Array.isArray(evs) ? evs : [evs];
      batches.push(list.length);
      return appendSync(list);
    };
    const committer = new UsageCommitter(store, () => undefined);
    const [a, b, c, d] = events(4);
    committer.add(a!);
    committer.add(b!);
    committer.add(c!);
    expect(await store.count({})).toBe(0);
    await committer.durable(b!);
    expect(await store.count({})).toBe(3);
    committer.add(d!);
    await committer.durable(d!);
    expect(batches).toEqual([3, 1]);
    // Events it never saw are "durable" at once.
    await committer.durable(events(1)[0]!);
    await committer.close();
    await store.close();
  });

  it('hands each turn to append() of a store that writes on its own thread, and waits for its commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-committer-'));
    const store = new SqliteUsageStore({ path: join(dir, 'usage.db'), writer: 'thread' });
    const batches: number[] = [];
    const append = store.append.bind(store);
    store.appendSync = () => {
      throw new Error('appendSync must not be used with the writer thread');
    };
    store.append = (evs) => {
      batches.push(Array.isArray(evs) ? evs.length : 1);
      return append(evs);
    };
    const committer = new UsageCommitter(store, () => undefined);
    const [a, b, c] = events(3);
    committer.add(a!);
    committer.add(b!);
    await committer.durable(a!);
    expect(store.pending).toBe(0);
    expect(await store.count()).toBe(2); // committed by the thread before durable() resolved
    committer.add(c!);
    await committer.durable(c!);
    expect(batches).toEqual([2, 1]);
    await committer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects the waiting calls of a failed batch and reports the failure', async () => {
    const store = new SqliteUsageStore({ path: ':memory:' });
    store.appendSync = () => {
      throw new Error('disk full (test)');
    };
    const reported: Array<[string, number]> = [];
    const committer = new UsageCommitter(store, (err, evs) => reported.push([(err as Error).message, evs.length]));
    const [a, b] = events(2);
    committer.add(a!);
    committer.add(b!);
    await expect(committer.durable(a!)).rejects.toThrow('disk full (test)');
    await expect(committer.durable(b!)).rejects.toThrow('disk full (test)');
    expect(reported).toEqual([['disk full (test)', 2]]);
    await committer.close();
    await store.close();
  });
});

describe('UsageCommitter and a store that cannot keep anything', () => {
  it('fails the whole batch at once (no event-by-event retries) when the store itself is not ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-committer-'));
    const path = join(dir, 'usage.db');
    const store = new SqliteUsageStore({ path });
    rmSync(path);
    expect((await store.readiness()).ready).toBe(false);
    let calls = 0;
    const appendSync = store.appendSync.bind(store);
    store.appendSync = (evs) => {
      calls++;
      return appendSync(evs);
    };
    const committer = new UsageCommitter(store, () => undefined);
    const batch = events(3);
    for (const e of batch) committer.add(e);
    for (const e of batch) await expect(committer.durable(e)).rejects.toMatchObject({ code: 'STORE_NOT_READY' });
    expect(calls).toBe(1);
    await committer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('gateway with a failing usage store', () => {
  it('does not acknowledge a call whose usage could not be stored (503 usage_store_unavailable)', async () => {
    const tg = await startTestGateway();
    try {
      tg.store.appendSync = () => {
        throw new Error('disk full (test)');
      };
      const r = await call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'lost' }, body: { model: 'm', messages: HELLO } });
      expect(r.status).toBe(503);
      expect(errorOf(r.body)).toMatchObject({ code: 'usage_store_unavailable', type: 'server_error' });
      // The store's own message stays in the gateway's log (it may name files or another tenant's values).
      expect(errorOf(r.body).message).toContain('could not be stored');
      expect(errorOf(r.body).message).not.toContain('disk full (test)');
    } finally {
      await tg.close();
    }
  });
});
