import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresUsageStore } from '../../../src/stores/usage/postgres/postgres-usage-store.js';
import { SQLITE_MIGRATIONS } from '../../../src/stores/usage/sqlite/sqlite-migrations.js';
import { SqliteUsageStore } from '../../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { UsageStore } from '../../../src/usage/usage-store.js';
import { DATABASE_URL, describePostgres } from '../../support/services.js';
import { transpileSrc } from './fixtures/transpile-src.js';

const RECORDER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'recorder.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tw-crash-'));
let modules: { root: string; cleanup: () => void };

beforeAll(() => {
  modules = transpileSrc(['usage/tracker.ts', 'stores/usage/sqlite/index.ts', 'stores/usage/postgres/index.ts'], 'crash');
});
afterAll(() => {
  modules.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the recorder child, SIGKILLs it once it has acknowledged `killAfter` events, and returns the
 * acknowledged ids (complete stdout lines only: a line cut by the kill was never fully acknowledged).
 */
async function recordThenKill(args: string[], killAfter: number): Promise<string[]> {
  const child = spawn(process.execPath, [RECORDER, modules.root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let lines = 0;
  let killed = false;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) lines++;
    if (!killed && lines > killAfter) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const { signal, code } = await exited;
  clearTimeout(timeout);
  if (!killed) throw new Error(`recorder exited early (code ${code}, signal ${signal}): ${stderr}`);
  expect(signal).toBe('SIGKILL');
  const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
  expect(complete[0]).toBe('READY');
  return complete.slice(1);
}

async function storedIds(store: UsageStore): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.query({ limit: 1000, cursor, orgId: 'crash' });
    ids.push(...page.events.map((e) => e.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

function expectExactlyOnce(acked: string[], stored: string[]): void {
  expect(acked.length).toBeGreaterThan(1000);
  expect(new Set(stored).size).toBe(stored.length); // nothing twice
  const have = new Set(stored);
  const missing = acked.filter((id) => !have.has(id));
  expect(missing).toEqual([]); // nothing acknowledged is lost
  // At most the one event recorded but not yet printed when the kill landed is extra.
  expect(stored.length - acked.length).toBeLessThanOrEqual(1);
}

describe('crash safety: kill -9 while recording', () => {
  it('SQLite: every acknowledged event is stored exactly once after restart', async () => {
    const path = join(dir, 'crash.db');
    const acked = await recordThenKill(['sqlite', path], 3000);
    const store = new SqliteUsageStore({ path });
    expectExactlyOnce(acked, await storedIds(store));
    await store.close();
  });

  it('SQLite with the writer thread: every event acknowledged after append() is stored exactly once after restart', async () => {
    const path = join(dir, 'crash-thread.db');
    const acked = await recordThenKill(['sqlite-thread', path], 3000);
    const store = new SqliteUsageStore({ path });
    const stored = await storedIds(store);
    expect(acked.length).toBeGreaterThan(1000);
    expect(new Set(stored).size).toBe(stored.length); // nothing twice
    const have = new Set(stored);
    expect(acked.filter((id) => !have.has(id))).toEqual([]); // nothing acknowledged is lost
    // Events handed to the thread but not yet acknowledged when the kill landed may be stored too.
    expect(stored.length - acked.length).toBeLessThanOrEqual(200);
    await store.close();
  });

  it('SQLite: several processes creating and writing one new file at once migrate it once and lose nothing', async () => {
    const path = join(dir, 'shared.db');
    const runs = await Promise.all([0, 1, 2].map(() => recordThenKill(['sqlite', path], 300)));
    const store = new SqliteUsageStore({ path });
    const migrations = store.db.prepare('SELECT version FROM tokenwarden_migrations ORDER BY version').all();
    expect(migrations).toEqual(SQLITE_MIGRATIONS.map((m) => ({ version: m.version })));
    const stored = await storedIds(store);
    expect(new Set(stored).size).toBe(stored.length);
    const have = new Set(stored);
    const acked = runs.flat();
    expect(acked.length).toBeGreaterThanOrEqual(900);
    expect(acked.filter((id) => !have.has(id))).toEqual([]);
    expect(stored.length - acked.length).toBeLessThanOrEqual(3);
    await store.close();
  });

  describePostgres('PostgreSQL', () => {
    const schema = `tw_crash_${process.pid}_${Date.now().toString(36)}`;
    let pool: pg.Pool;
    beforeAll(() => {
      pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    });
    afterAll(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    });

    it('every acknowledged event is stored exactly once after the spool is replayed', async () => {
      const spoolPath = join(dir, 'crash-spool.jsonl');
      const acked = await recordThenKill(['postgres', DATABASE_URL!, schema, 'usage', spoolPath], 3000);
      expect(existsSync(spoolPath)).toBe(true);
      expect(statSync(spoolPath).size).toBeGreaterThan(0); // the kill left unconfirmed events behind
      const before = await pool.query(`SELECT COUNT(*)::int AS n FROM "${schema}"."usage"`);
      expect(before.rows[0].n).toBeLessThan(acked.length);

      const store = new PostgresUsageStore({ pool, schema, table: 'usage', spoolPath, onWarning: () => {} });
      const replayed = await store.replaySpool();
      expect(replayed).toBeGreaterThan(0);
      expect(store.pending).toBe(0);
      expect(statSync(spoolPath).size).toBe(0);
      expectExactlyOnce(acked, await storedIds(store));
      await store.close();
    });
  });
});
