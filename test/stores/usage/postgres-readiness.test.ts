/**
 * Issue 11, finding 8 (store half) for PostgreSQL: the store says it cannot keep events when its spool
 * is gone or unwritable or when events pile up for a database that is down, and refuses appends to a
 * deleted spool instead of acknowledging events that would be lost.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { PostgresUsageStore } from '../../../src/stores/usage/postgres/postgres-usage-store.js';
import { UsageTracker } from '../../../src/usage/tracker.js';
import { DATABASE_URL, describePostgres } from '../../support/services.js';
import { makeEvent } from './usage-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-pg-ready-'));
const schema = `tw_ready_${process.pid}_${Date.now().toString(36)}`;

describePostgres('PostgresUsageStore readiness', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a spool file deleted while in use: not ready, and appends are refused instead of acknowledged', async () => {
    const spoolPath = join(dir, 'deleted.jsonl');
    const store = new PostgresUsageStore({ pool, schema, table: 'deleted', spoolPath, onWarning: () => undefined });
    await store.open();
    expect(await store.readiness()).toEqual({ ready: true });
    await store.append(makeEvent());
    rmSync(spoolPath);
    expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringContaining('was deleted') });
    await expect(store.append(makeEvent())).rejects.toMatchObject({ code: 'STORE_NOT_READY' });
    await store.close();
  });

  it('events piling up for an unreachable database beyond maxQueue: not ready, naming the failure', async () => {
    const spoolPath = join(dir, 'down.jsonl');
    const down = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere', connectionTimeoutMillis: 200 });
    const store = new PostgresUsageStore({ pool: down, schema, table: 'down', spoolPath, maxQueue: 5, onWarning: () => undefined });
    const tracker = new UsageTracker();
    store.attach(tracker); // never blocks: beyond maxQueue, events wait in the spool
    for (let i = 0; i < 4; i++) tracker.record({ model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, latencyMs: 1 });
    expect(await store.readiness()).toEqual({ ready: true });
    for (let i = 0; i < 8; i++) tracker.record({ model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, latencyMs: 1 });
    const r = await store.readiness();
    expect(r.ready).toBe(false);
    expect(r.reason).toMatch(/12 usage events wait for PostgreSQL table .* \(more than maxQueue 5\)/);
    await store.close();
    await down.end();
  });

  it('a spool on a full disk (a real tmpfs): appends fail, not ready until space is freed', async () => {
    const mnt = join(dir, 'tmpfs');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      console.warn(`[tokenwarden tests] cannot mount a tmpfs (${(err as Error).message.split('\n')[0]}): skipping the full-disk spool test`);
      return;
    }
    try {
      const filler = join(mnt, 'filler');
      writeFileSync(filler, Buffer.alloc(900 * 1024));
      // The database is unreachable, so the spool only grows.
      const down = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere', connectionTimeoutMillis: 200 });
      const store = new PostgresUsageStore({ pool: down, schema, table: 'full', spoolPath: join(mnt, 'spool.jsonl'), onWarning: () => undefined });
      let failure: unknown;
      for (let i = 0; i < 2000 && !failure; i++) {
        try {
          await store.append(Array.from({ length: 10 }, () => makeEvent({ metadata: { note: 'z'.repeat(500) } })));
        } catch (err) {
          failure = err;
        }
      }
      expect(failure).toMatchObject({ code: 'SPOOL_IO', message: expect.stringContaining('ENOSPC') });
      expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringContaining('cannot write to spool') });
      rmSync(filler);
      await vi.waitFor(async () => expect(await store.readiness()).toEqual({ ready: true }), { timeout: 5000, interval: 100 }); // one probe a second
      await store.append(makeEvent());
      await store.close();
      await down.end();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});
