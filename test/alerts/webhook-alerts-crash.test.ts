// Needs `npm run build` (the sender killed with SIGKILL runs from dist/ in a child process).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { WebhookAlerts } from '../../src/alerts/index.js';
import { WebhookReceiver } from './webhook-receiver.js';

const DIST = resolve('dist/alerts/index.js');
const SECRET = 'whsec_' + Buffer.from('tokenwarden-crash-test-secret-32b').toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'tw-alerts-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A child process that queues three alerts to `url`, prints their ids, then waits (the receiver never answers). */
function childScript(url: string, outboxPath: string): string {
  return `
    const { WebhookAlerts } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
    const alerts = new WebhookAlerts({ endpoints: [{ url: ${JSON.stringify(url)}, secret: ${JSON.stringify(SECRET)} }],
      outboxPath: ${JSON.stringify(outboxPath)}, timeoutMs: 60000, concurrency: 1 });
    await alerts.start();
    const standing = { policy: 'org-monthly', scope: 'org', entity: 'acme', meter: 'budget', windowStart: 0, resetsAt: null,
      limits: { nanos: 1e9 }, spentNanos: 1e9, reservedNanos: 0, usedTokens: 5, reservedTokens: 0, requests: 1, reservedRequests: 0 };
    const ids = [90, 95].map((percent) => alerts.send({ type: 'threshold', percent, standing, at: Date.now() }));
    ids.push(alerts.send({ type: 'exhausted', standing, at: Date.now() }));
    process.stdout.write(JSON.stringify(ids) + '\\n');
    setInterval(() => {}, 1000);
  `;
}

it('keeps what was queued when the sender is killed with SIGKILL, and the next start delivers it under the same ids', async () => {
  expect(existsSync(DIST), 'dist/alerts/index.js is missing: run `npm run build` first').toBe(true);
  let answering = false;
  const receiver = await new WebhookReceiver(SECRET, () => (answering ? 'ok' : 'hang')).listen();
  const outboxPath = join(dir, 'outbox.jsonl');
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', childScript(receiver.url, outboxPath)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ids = await new Promise<string[]>((done, fail) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) done(JSON.parse(out) as string[]);
      });
      child.on('exit', (code) => fail(new Error(`child exited early (${code})`)));
    });
    // The first delivery is in flight (never answered) when the process dies.
    while (receiver.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    receiver.release();

    answering = true;
    const alerts = new WebhookAlerts({ endpoints: [{ url: receiver.url, secret: SECRET }], outboxPath, onWarning: () => {} });
    try {
      // The dead process's lock is taken over.
      expect(await alerts.start()).toEqual({ resumed: 3 });
      while (alerts.stats().delivered < 3) await new Promise((r) => setTimeout(r, 10));
      expect([...receiver.delivered().keys()].sort()).toEqual([...ids].sort());
    } finally {
      await alerts.close();
    }
  } finally {
    await receiver.close();
  }
});
