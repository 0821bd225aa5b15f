/**
 * Issue 11, findings 8 (store half) and 10: a SQLite store that cannot keep events says so and refuses
 * appends, instead of acknowledging events that are lost (deleted or replaced file, full disk) or dying
 * with SIGBUS (immutable -shm). Real files, a real tmpfs, a real immutable attribute.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqliteUsageStore } from '../../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { makeEvent } from './usage-store-contract.js';
import { transpileSrc } from './fixtures/transpile-src.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-ready-'));
let n = 0;
const dbPath = (): string => join(dir, `r${++n}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Appends a batch every turn until `stop()`; counts appends started after `mark()` that resolved, and how appends failed. */
function load(store: SqliteUsageStore): { mark: () => void; stop: () => Promise<{ okAfterMark: number; codes: string[] }> } {
  let running = true;
  let marked = false;
  let okAfterMark = 0;
  const codes: string[] = [];
  const loop = (async () => {
    for (let i = 0; running && i < 20_000; i++) {
      const afterMark = marked; // appends started once the file was deleted
      try {
        await store.append([makeEvent(), makeEvent()]);
        if (afterMark) okAfterMark++;
      } catch (err) {
        codes.push((err as { code: string }).code);
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    mark: () => void (marked = true),
    stop: async () => {
      running = false;
      await loop;
      return { okAfterMark, codes };
    },
  };
}

describe.each(['inline', 'thread'] as const)('SqliteUsageStore readiness (writer: %s)', (writer) => {
  it('a database file deleted under load: readiness says so and every later append is refused', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer });
    expect(await store.readiness()).toEqual({ ready: true });
    const running = load(store);
    await vi.waitFor(async () => expect(await store.count()).toBeGreaterThan(50), { timeout: 5000 });
    rmSync(path);
    // From the deletion on, not one append is acknowledged: each commit is followed by a check of the file.
    running.mark();
    await new Promise((r) => setTimeout(r, 20)); // appends go on before anyone asks for readiness
    await vi.waitFor(async () => expect((await store.readiness()).ready).toBe(false), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    const { okAfterMark, codes } = await running.stop();
    expect(okAfterMark).toBe(0);
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['STORE_NOT_READY']));
    const { reason } = await store.readiness();
    expect(reason).toContain('was deleted');
    expect(reason).toContain(path);
    await expect(store.append(makeEvent())).rejects.toMatchObject({ code: 'STORE_NOT_READY', message: expect.stringContaining('was deleted') });
    expect(() => store.appendSync(makeEvent())).toThrow(/was deleted/);
    await store.close();
  });

  it('a database file replaced by another: not ready, appends refused', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer });
    await store.append(makeEvent());
    const other = dbPath();
    new Database(other).close();
    renameSync(other, path);
    expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringContaining('was replaced by another file') });
    await expect(store.append(makeEvent())).rejects.toMatchObject({ code: 'STORE_NOT_READY' });
    await store.close();
  });

  it('a full database (SQLITE_FULL through max_page_count): not ready until a probe write succeeds', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer: 'inline' });
    store.appendSync(makeEvent());
    const pages = (store.db.pragma('page_count', { simple: true }) as number) + 4;
    store.db.pragma(`max_page_count = ${pages}`);
    let full: unknown;
    for (let i = 0; i < 5000 && !full; i++) {
      try {
        store.appendSync(Array.from({ length: 20 }, () => makeEvent({ metadata: { note: 'x'.repeat(500) } })));
      } catch (err) {
        full = err;
      }
    }
    expect(full).toMatchObject({ code: 'STORE_UNAVAILABLE', cause: { code: 'SQLITE_FULL' } });
    expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringContaining('SQLITE_FULL') });
    expect(() => store.appendSync(makeEvent())).toThrow(/cannot keep events.*SQLITE_FULL/);
    store.db.pragma('max_page_count = 1073741823');
    await vi.waitFor(async () => expect(await store.readiness()).toEqual({ ready: true }), { timeout: 5000, interval: 100 }); // probes at most once a second
    expect(store.appendSync(makeEvent())).toBe(1);
    await store.close();
  });
});

describe('SqliteUsageStore on a disk that fills (a real tmpfs)', () => {
  const mnt = join(dir, 'tmpfs');
  let mounted = false;
  beforeAll(() => {
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
      mounted = true;
    } catch (err) {
      console.warn(`[tokenwarden tests] cannot mount a tmpfs (${(err as Error).message.split('\n')[0]}): skipping the full-disk test`);
    }
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', ['-l', mnt]);
  });

  it.each(['inline', 'thread'] as const)('writer %s: refuses appends once the disk is full, recovers when space is freed', async (writer) => {
    if (!mounted) return;
    const sub = join(mnt, writer);
    mkdirSync(sub);
    const filler = join(sub, 'filler');
    writeFileSync(filler, Buffer.alloc(512 * 1024));
    const store = new SqliteUsageStore({ path: join(sub, 'usage.db'), writer });
    let full: unknown;
    let acknowledged = 0;
    for (let i = 0; i < 3000 && !full; i++) {
      try {
        await store.append(Array.from({ length: 20 }, () => makeEvent({ metadata: { note: 'y'.repeat(400) } })));
        acknowledged += 20;
      } catch (err) {
        full = err;
      }
    }
    expect(full).toBeDefined();
    expect(await store.readiness()).toMatchObject({ ready: false, reason: expect.stringMatching(/SQLITE_FULL|SQLITE_IOERR/) });
    await expect(store.append(makeEvent())).rejects.toMatchObject({ code: 'STORE_NOT_READY' });
    rmSync(filler);
    await vi.waitFor(async () => expect(await store.readiness()).toEqual({ ready: true }), { timeout: 5000, interval: 100 }); // probes at most once a second
    await store.append(makeEvent());
    expect(await store.count()).toBe(acknowledged + 1); // every acknowledged event is there
    await store.close();
    rmSync(sub, { recursive: true, force: true });
  });
});

describe('an immutable -shm file (finding 10)', () => {
  let chattr = true;
  let modules: { root: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    const probe = join(dir, 'chattr-probe');
    writeFileSync(probe, '');
    try {
      execFileSync('chattr', ['+i', probe], { stdio: 'pipe' });
      execFileSync('chattr', ['-i', probe], { stdio: 'pipe' });
    } catch (err) {
      chattr = false;
      console.warn(`[tokenwarden tests] chattr +i is not supported here (${(err as Error).message.split('\n')[0]}): skipping`);
    }
    modules = transpileSrc(['stores/usage/sqlite/index.ts'], 'shm');
  });
  afterAll(() => modules?.cleanup());

  it('a store refuses to open a database whose -shm it cannot write, naming the file', () => {
    if (!chattr) return;
    const path = dbPath();
    const holder = new Database(path);
    holder.pragma('journal_mode = WAL');
    holder.exec('CREATE TABLE x (a)'); // the -shm exists while a connection is open
    execFileSync('chattr', ['+i', `${path}-shm`]);
    try {
      expect(() => new SqliteUsageStore({ path })).toThrow(/-shm cannot be opened for writing \(EPERM\)/);
    } finally {
      execFileSync('chattr', ['-i', `${path}-shm`]);
      holder.close();
    }
  });

  it.each(['inline', 'thread'] as const)('made immutable while the store runs (%s writer and reader): not ready, reads and writes refused, no SIGBUS', async (mode) => {
    if (!chattr) return;
    const path = dbPath();
    const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'shm-writer.mjs');
    const child = spawn(process.execPath, [script, modules!.root, path, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.startsWith('READY\n')) resolve();
        });
        child.once('exit', () => reject(new Error(`child exited before READY: ${stderr}`)));
      });
      expect(existsSync(`${path}-shm`)).toBe(true);
      execFileSync('sync'); // written back: the next write to the mapped WAL index faults (SIGBUS without the fix)
      execFileSync('chattr', ['+i', `${path}-shm`]);
      child.stdin.write('go\n');
      const { code, signal } = await exited;
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      const summary = JSON.parse(stdout.split('\n')[1]!) as { stored: number; refused: Record<string, number>; readiness: { ready: boolean; reason: string } };
      expect(summary.stored).toBe(0);
      expect(summary.refused).toEqual({ STORE_NOT_READY: 6000, read: 'STORE_NOT_READY' });
      expect(summary.readiness.ready).toBe(false);
      expect(summary.readiness.reason).toContain('-shm cannot be opened for writing');
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
      execFileSync('chattr', ['-i', `${path}-shm`]);
    }
  });
});
