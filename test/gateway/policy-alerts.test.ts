/**
 * Budget alerts end to end: a `tokenwarden serve` process with a user policy and an `alerts:` webhook
 * delivers threshold crossings and the refusal of a budget the user spent, signed as Standard Webhooks do
 * (checked by the receiver's own code), retrying a receiver that fails at first under the same id; a flood
 * of refusals of users who never spent alerts nobody.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebhookReceiver } from '../alerts/webhook-receiver.js';
import { SERVE_MAIN, startServeProcess, type ServeProcess } from '../support/serve-process.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let dir: string;
let receiver: WebhookReceiver;
let gw: ServeProcess;

beforeAll(async () => {
  expect(existsSync(SERVE_MAIN), 'dist/cli/main.js is missing: run `npm run build` first').toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'tw-policy-alerts-'));
  receiver = await new WebhookReceiver(SECRET, (n) => (n === 1 ? 500 : 'ok')).listen();
  const file = join(dir, 'tw.yaml');
  await writeFile(
    file,
    `server: { port: 0 }
store: { sqlite: ./usage.db }
providers:
  backends:
    - { name: mock, provider: mock, models: ["*"], mock: { completion_tokens: 5 } }
budgets:
  policies:
    - { name: user-daily, scope: user, max_tokens: 400, window: 1d }
    - { name: key-rate, scope: agent, rpm: 1 }
alerts:
  - { url: "${receiver.url}", secret: "${SECRET}" }
`,
  );
  gw = await startServeProcess(file);
});
afterAll(async () => {
  await gw?.stop('SIGTERM');
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
});

async function chat(user: string, agent?: string): Promise<number> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': user, ...(agent ? { 'x-agent-id': agent } : {}) },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count to three.' }], max_tokens: 5 }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for webhook deliveries');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('delivers signed threshold and exhausted alerts (retried under the same id), and none for never-spent users refused', async () => {
  let refused = 0;
  for (let i = 0; i < 60 && refused === 0; i++) if ((await chat('u-1')) === 429) refused++;
  expect(refused).toBe(1);
  const events = () => [...receiver.delivered().values()].map((b) => JSON.parse(b) as { type: string; data: Record<string, unknown> });
  await until(() => events().some((e) => e.type === 'budget.exhausted') && events().filter((e) => e.type === 'budget.threshold').length >= 3);
  expect(receiver.received.every((r) => r.valid)).toBe(true);
  // The first delivery failed (500) and was retried under the same webhook-id.
  expect(receiver.received[0]!.answer).toBe(500);
  expect(receiver.delivered().has(receiver.received[0]!.id)).toBe(true);
  const thresholds = events().filter((e) => e.type === 'budget.threshold').map((e) => e.data.percent).sort();
  expect(thresholds).toEqual([75, 90, 95]);
  const exhausted = events().find((e) => e.type === 'budget.exhausted')!;
  expect(exhausted.data).toMatchObject({ policy: 'user-daily', scope: 'user', entity: 'u-1', max_tokens: 400 });

  // 30 users who never spent, each refused by the agent's rpm: no webhook for any of them.
  const before = receiver.received.length;
  await chat('first', 'bot');
  for (let i = 0; i < 30; i++) expect(await chat(`new-${i}`, 'bot')).toBe(429);
  await new Promise((r) => setTimeout(r, 500));
  expect(receiver.received.length).toBe(before);
});
