import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageStoreError } from '../../../src/usage/store-error.js';
import { EventSpool, type SpoolWarning } from '../../../src/stores/usage/spool/event-spool.js';
import { makeEvent } from './usage-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-spool-'));
let n = 0;
const spoolPath = (): string => join(dir, `s${++n}`, 'spool.jsonl');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('EventSpool', () => {
  it('appends JSON lines synchronously, reads them back and truncates once all are confirmed', () => {
    const path = spoolPath();
    const spool = new EventSpool({ path });
    expect(spool.open()).toEqual({ lines: 0, tornBytes: 0 });
    const events = [makeEvent(), makeEvent({ metadata: { note: 'ünïcødé ✓' } }), makeEvent()];
    const { start, ends } = spool.append(events);
    expect(start).toBe(0);
    expect(ends[2]).toBe(statSync(path).size);
    expect(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(events.map((e) => e.id));

    const first = spool.read(0, 2);
    expect(first.entries.map((e) => e.event)).toEqual(events.slice(0, 2));
    expect(first.next).toBe(ends[1]);
    const rest = spool.read(first.next, 10);
    expect(rest.entries.map((e) => e.event.id)).toEqual([events[2]!.id]);

    spool.confirm(ends[1]!);
    expect(statSync(path).size).toBe(ends[2]); // not everything confirmed: kept
    spool.confirm(ends[2]!);
    expect(statSync(path).size).toBe(0);
    // Offsets stay logical after truncation.
    const more = spool.append([makeEvent()]);
    expect(more.start).toBe(ends[2]);
    expect(spool.read(more.start, 5).entries).toHaveLength(1);
    spool.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('compacts confirmed bytes away while keeping unconfirmed lines and logical offsets', () => {
    const path = spoolPath();
    const spool = new EventSpool({ path, compactBytes: 2000 });
    spool.open();
    const events = Array.from({ length: 40 }, () => makeEvent());
    const { ends } = spool.append(events);
    spool.confirm(ends[29]!);
    const size = statSync(path).size;
    expect(size).toBe(ends[39]! - ends[29]!);
    expect(spool.start).toBe(ends[29]);
    const left = spool.read(ends[29]!, 100).entries.map((e) => e.event.id);
    expect(left).toEqual(events.slice(30).map((e) => e.id));
    spool.close();
    // A new owner sees exactly the unconfirmed lines.
    const reopened = new EventSpool({ path });
    expect(reopened.open()).toEqual({ lines: 10, tornBytes: 0 });
    expect(reopened.read(0, 100).entries.map((e) => e.event.id)).toEqual(events.slice(30).map((e) => e.id));
    reopened.close();
  });

  it('removes and reports a torn last line; skips and reports corrupt lines', () => {
    const path = spoolPath();
    const warnings: SpoolWarning[] = [];
    const first = new EventSpool({ path });
    first.open();
    const events = [makeEvent(), makeEvent(), makeEvent()];
    first.append(events.slice(0, 1));
    first.close();
    appendFileSync(path, '{"this is": "not an event"}\n');
    appendFileSync(path, JSON.stringify(events[1]) + '\n');
    appendFileSync(path, JSON.stringify(events[2]).slice(0, 40)); // kill -9 mid-write
    const spool = new EventSpool({ path, onWarning: (w) => warnings.push(w) });
    const recovery = spool.open();
    expect(recovery.lines).toBe(3);
    expect(recovery.tornBytes).toBe(40);
    expect(warnings.map((w) => w.code)).toEqual(['SPOOL_TORN_LINE']);
    expect(warnings[0]!.message).toContain(path);
    const { entries, skipped, next } = spool.read(0, 100);
    expect(entries.map((e) => e.event.id)).toEqual([events[0]!.id, events[1]!.id]);
    expect(skipped).toBe(1);
    expect(next).toBe(spool.end);
    expect(warnings.map((w) => w.code)).toEqual(['SPOOL_TORN_LINE', 'SPOOL_CORRUPT_LINE']);
    // New appends start on a fresh line.
    spool.append([events[2]!]);
    expect(spool.read(next, 5).entries.map((e) => e.event.id)).toEqual([events[2]!.id]);
    spool.close();
  });

  it('reads lines longer than its read chunk', () => {
    const path = spoolPath();
    const spool = new EventSpool({ path });
    spool.open();
    const big = makeEvent({ metadata: { blob: 'x'.repeat(3 * 1024 * 1024) } });
    const small = makeEvent();
    spool.append([small, big, small]);
    const { entries } = spool.read(0, 10);
    expect(entries.map((e) => e.event.id)).toEqual([small.id, big.id, small.id]);
    expect(entries[1]!.event.metadata.blob).toHaveLength(3 * 1024 * 1024);
    spool.close();
  });

  it('is owned by one process at a time; a dead owner’s lock is taken over', () => {
    const path = spoolPath();
    const a = new EventSpool({ path });
    a.open();
    const b = new EventSpool({ path });
    expect(() => b.open()).toThrow(UsageStoreError);
    a.close();

    // A live process (our parent) holds the lock.
    writeFileSync(`${path}.lock`, String(process.ppid));
    let thrown: unknown;
    try {
      b.open();
    } catch (err) {
      thrown = err;
    }
    // Asserted outside the catch, so the test fails when nothing is thrown.
    expect((thrown as UsageStoreError).code).toBe('SPOOL_LOCKED');
    expect((thrown as Error).message).toContain(String(process.ppid));

    // A process that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${path}.lock`, dead.stdout);
    expect(b.open()).toEqual({ lines: 0, tornBytes: 0 });
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(String(process.pid));
    b.close();
  });

  it('writes nothing for a batch that cannot be serialised', () => {
    const path = spoolPath();
    const spool = new EventSpool({ path });
    spool.open();
    spool.append([makeEvent()]);
    const size = statSync(path).size;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => spool.append([makeEvent({ metadata: cyclic as never })])).toThrow();
    expect(statSync(path).size).toBe(size);
    spool.close();
  });
});
