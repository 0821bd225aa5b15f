/**
 * `kill -9` of a serving gateway (the built `tokenwarden serve` on its embedded SQLite store, whose
 * events are committed by the store's writer thread): every call that was answered 200 has its usage
 * event in the database afterwards, exactly once.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { SERVE_MAIN, startServeProcess } from '../support/serve-process.js';

let dir: string;
beforeAll(async () => {
  expect(existsSync(SERVE_MAIN), 'dist/cli/main.js is missing: run `npm run build` first').toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'tw-kill-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gateway killed with SIGKILL while serving', () => {
  it('has stored the usage event of every call it answered', async () => {
    const configFile = join(dir, 'kill.yaml');
    await writeFile(
      configFile,
      'server: { port: 0 }\nstore: { sqlite: ./kill.db }\nproviders:\n  backends:\n    - { name: mock, provider: mock, models: ["*"] }\n',
    );
    const gateway = await startServeProcess(configFile);
    const answered: string[] = [];
    let refused = 0;
    const caller = async (i: number): Promise<void> => {
      for (let n = 0; ; n++) {
        let res: Response;
        try {
          res = await fetch(`${gateway.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-thread-id': `kill-${i}`, 'x-agent-id': 'killer' },
            body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: `call ${n}` }], max_tokens: 8 }),
          });
        } catch {
          refused++; // the process is gone: this call was never answered
          return;
        }
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
        await res.json();
        // The answer's id is the upstream's; this header names the usage event it was charged to.
        answered.push(res.headers.get('x-usage-event-id')!);
        if (answered.length >= 400 && gateway.child.signalCode === null) gateway.child.kill('SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => caller(i)));
    expect(await gateway.stop()).toBeNull(); // ended by the signal, not by exiting
    expect(gateway.child.signalCode).toBe('SIGKILL');
    expect(refused).toBeGreaterThan(0);

    const store = new SqliteUsageStore({ path: join(dir, 'kill.db'), readonly: true });
    const stored = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await store.query({ agentId: 'killer', limit: 1000, cursor });
      for (const e of page.events) stored.add(e.id);
      cursor = page.nextCursor;
    } while (cursor);
    await store.close();
    expect(answered.length).toBeGreaterThanOrEqual(400);
    expect(answered.filter((id) => !stored.has(id))).toEqual([]);
    // Calls in flight when the kill landed may be stored without having been answered; at most one each.
    expect(stored.size - answered.length).toBeLessThanOrEqual(16);
  });
});
