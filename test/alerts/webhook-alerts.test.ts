import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PolicyAlert, PolicyStanding } from '../../src/budget/policy-types.js';
import { WebhookAlerts, type AlertWarning, type WebhookAlertsOptions } from '../../src/alerts/index.js';
import { signWebhook, webhookKey } from '../../src/alerts/webhook-signing.js';
import { parseRetryAfter } from '../../src/alerts/webhook-delivery.js';
import { verifySignature, WebhookReceiver, type ReceiverAction } from './webhook-receiver.js';

// The symmetric test vector of the Standard Webhooks reference libraries.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const SECRET = 'whsec_' + Buffer.from('tokenwarden-test-secret-32-bytes!').toString('base64');
const CLOCK = Date.parse('2026-11-30T12:00:00.000Z');
const now = (): number => CLOCK;

const dir = mkdtempSync(join(tmpdir(), 'tw-alerts-'));
let n = 0;
const outboxPath = (): string => join(dir, `o${++n}`, 'outbox.jsonl');
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function standing(over: Partial<PolicyStanding> = {}): PolicyStanding {
  return {
    policy: 'user-daily', scope: 'user', entity: 'u-7', meter: 'budget',
    windowStart: Date.parse('2026-11-30T00:00:00Z'), resetsAt: Date.parse('2026-12-01T00:00:00Z'),
    limits: { nanos: 5_000_000_000, tokens: 100_000 },
    spentNanos: 4_500_000_001, reservedNanos: 250_000_000, usedTokens: 91_000, reservedTokens: 1_000, requests: 12, reservedRequests: 1,
    ...over,
  };
}
const threshold = (percent: number, entity = 'u-7'): PolicyAlert => ({ type: 'threshold', percent, standing: standing({ entity }), at: CLOCK - 1000 });
const exhausted = (entity = 'u-7'): PolicyAlert => ({ type: 'exhausted', standing: standing({ entity }), at: CLOCK - 500 });

async function receiver(plan?: (n: number) => ReceiverAction, secret = SECRET): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver(secret, plan, now).listen();
  open.push(r);
  return r;
}

function alerts(options: Partial<WebhookAlertsOptions> & Pick<WebhookAlertsOptions, 'endpoints' | 'outboxPath'>, warnings: AlertWarning[] = []): WebhookAlerts {
  const a = new WebhookAlerts({ retry: [20, 40, 60], jitter: 0, timeoutMs: 5_000, now, onWarning: (w) => warnings.push(w), ...options });
  open.push(a);
  return a;
}

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const lines = (path: string): Array<Record<string, unknown>> =>
  readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('Standard Webhooks signing', () => {
  it('matches the spec test vector, and the receiver verifies it independently', () => {
    expect(signWebhook(webhookKey(SPEC.secret)!, SPEC.id, SPEC.timestamp, SPEC.body)).toBe(SPEC.signature);
    expect(verifySignature(SPEC.secret, SPEC.id, String(SPEC.timestamp), SPEC.body, SPEC.signature)).toBe(true);
    expect(verifySignature(SPEC.secret, SPEC.id, String(SPEC.timestamp), SPEC.body + ' ', SPEC.signature)).toBe(false);
    // Several signatures (key rotation): one valid is enough.
    expect(verifySignature(SPEC.secret, SPEC.id, String(SPEC.timestamp), SPEC.body, `v1,AAAA ${SPEC.signature}`)).toBe(true);
  });

  it('keys a whsec_ secret by its decoded bytes and any other secret by its UTF-8 bytes', () => {
    expect(webhookKey(SPEC.secret)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
    expect(webhookKey('plain secret ✓')).toEqual(Buffer.from('plain secret ✓', 'utf8'));
    expect(webhookKey('whsec_not base64!')).toBeUndefined();
  });
});

describe('WebhookAlerts', () => {
  it('delivers every alert signed, retrying failures and a timeout with the same id, filtered by events', async () => {
    // 500, 503, then no answer (times out), then fine.
    const a = await receiver((i) => (i === 1 ? 500 : i === 2 ? 503 : i === 3 ? 'hang' : 'ok'));
    const b = await receiver(undefined, 'a plain shared secret');
    const path = outboxPath();
    const sender = alerts({ endpoints: [{ url: a.url, secret: SECRET }, { url: b.url, secret: 'a plain shared secret', events: ['exhausted'] }], outboxPath: path, timeoutMs: 1_000 });
    await sender.start();
    const ids = [sender.send(threshold(75))!, sender.send(threshold(90))!, sender.send(exhausted())!, sender.send(threshold(95, 'u-8'))!];
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^msg_[A-Za-z0-9_-]{20}$/);
    await waitFor(() => sender.stats().pending === 0);
    expect(sender.stats()).toEqual({ pending: 0, delivered: 5, failed: 0, dropped: 0 });

    expect(a.received.every((r) => r.valid)).toBe(true);
    expect(b.received.every((r) => r.valid)).toBe(true);
    expect([...a.delivered().keys()].sort()).toEqual([...ids].sort());
    expect([...b.delivered().keys()]).toEqual([ids[2]]); // exhausted only
    // The three failed attempts were retried under the same ids, each one delivered once in the end.
    const failedIds = a.received.filter((r) => r.answer !== 204).map((r) => r.id);
    expect(failedIds).toHaveLength(3);
    for (const id of failedIds) expect(a.received.filter((r) => r.id === id && r.answer === 204)).toHaveLength(1);
    for (const r of a.received) expect(r.timestamp).toBe(CLOCK / 1000);

    const event = JSON.parse(a.delivered().get(ids[1]!)!);
    expect(event).toEqual({
      type: 'budget.threshold',
      timestamp: new Date(CLOCK - 1000).toISOString(),
      data: {
        policy: 'user-daily', scope: 'user', entity: 'u-7', meter: 'budget', percent: 90,
        window_start: '2026-11-30T00:00:00.000Z', resets_at: '2026-12-01T00:00:00.000Z',
        max_usd: 5, spent_usd: 4.500000001, reserved_usd: 0.25, remaining_usd: 0.249999999,
        max_tokens: 100_000, used_tokens: 91_000, reserved_tokens: 1_000, remaining_tokens: 8_000,
      },
    });
    expect(JSON.parse(b.delivered().get(ids[2]!)!).type).toBe('budget.exhausted');
    // Every delivery (one record per endpoint) is marked delivered in the outbox.
    const records = lines(path).filter((l) => 'msg' in l);
    const marked = new Set(lines(path).filter((l) => l.delivered === true).map((l) => l.id));
    expect(records).toHaveLength(5);
    for (const r of records) expect(marked.has(r.id)).toBe(true);
  });

  it('describes a rate line refused by its rate words and a lifetime budget with resets_at null', async () => {
    const r = await receiver();
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: outboxPath() });
    await sender.start();
    const rate = standing({ policy: 'key-rate', scope: 'key', entity: 'k1', meter: 'rate', limits: { requests: 60, tokens: 1000 }, requests: 60, reservedRequests: 0, usedTokens: 400, reservedTokens: 0 });
    const rateId = sender.send({ type: 'exhausted', standing: rate, at: CLOCK })!;
    const lifetime = standing({ windowStart: 0, resetsAt: null, limits: { tokens: 200_000 } });
    const lifeId = sender.send({ type: 'threshold', percent: 75, standing: lifetime, at: CLOCK })!;
    await waitFor(() => r.delivered().size === 2);
    expect(JSON.parse(r.delivered().get(rateId)!).data).toMatchObject({ meter: 'rate', rpm: 60, requests: 60, remaining_requests: 0, tpm: 1000, tokens: 400, remaining_tokens: 600 });
    expect(JSON.parse(r.delivered().get(lifeId)!).data).toMatchObject({ window_start: '1970-01-01T00:00:00.000Z', resets_at: null, max_usd: null, remaining_usd: null, max_tokens: 200_000 });
  });

  it('gives up after the last retry, logs it and keeps the delivery marked failed in the outbox', async () => {
    const r = await receiver(() => 500);
    const warnings: AlertWarning[] = [];
    const path = outboxPath();
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, retry: [10, 10] }, warnings);
    await sender.start();
    const id = sender.send(exhausted())!;
    await waitFor(() => sender.stats().failed === 1);
    expect(r.received.map((x) => x.id)).toEqual([id, id, id]);
    expect(sender.stats()).toEqual({ pending: 0, delivered: 0, failed: 1, dropped: 0 });
    expect(warnings.find((w) => w.code === 'ALERT_DELIVERY_FAILED')?.message).toContain(`${id} (budget.exhausted) to ${r.url} given up: HTTP 500 after 3 attempts`);
    expect(lines(path).find((l) => l.failed === true)).toMatchObject({ attempts: 3, error: 'HTTP 500 after 3 attempts' });
    await sender.close();
    // Not resumed by the next instance.
    const next = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path });
    expect(await next.start()).toEqual({ resumed: 0 });
  });

  it('delivers after a restart what was pending, under the same ids', async () => {
    let up = false;
    const r = await receiver(() => (up ? 'ok' : 503));
    const path = outboxPath();
    const first = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, retry: [60_000] });
    await first.start();
    const ids = [first.send(threshold(75))!, first.send(threshold(90))!, first.send(exhausted())!];
    await waitFor(() => r.received.length === 3);
    await first.close();
    expect(first.stats().pending).toBe(0);

    up = true;
    const second = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, retry: [60_000] });
    expect(await second.start()).toEqual({ resumed: 3 });
    await waitFor(() => second.stats().delivered === 3);
    expect([...r.delivered().keys()].sort()).toEqual([...ids].sort());
    await second.close();
    const third = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path });
    expect(await third.start()).toEqual({ resumed: 0 });
  });

  it('close() waits for a delivery in flight only so long, and the next start delivers it', async () => {
    let hang = true;
    const r = await receiver(() => (hang ? 'hang' : 'ok'));
    const path = outboxPath();
    const first = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, timeoutMs: 30_000, closeTimeoutMs: 100 });
    await first.start();
    const id = first.send(exhausted())!;
    await waitFor(() => r.received.length === 1);
    const t0 = Date.now();
    await first.close();
    expect(Date.now() - t0).toBeLessThan(2_000);
    hang = false;
    const second = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path });
    expect(await second.start()).toEqual({ resumed: 1 });
    await waitFor(() => r.delivered().has(id));
  });

  it('skips a corrupt line and a torn last line of the outbox with warnings, and delivers the rest', async () => {
    const r = await receiver();
    const path = outboxPath();
    const seed = alerts({ endpoints: [{ url: 'http://127.0.0.1:9/unreachable', secret: SECRET }], outboxPath: path, retry: [60_000] });
    await seed.start();
    const id = seed.send(threshold(75))!;
    await seed.close();
    // Rewrite the record's URL to the live receiver, and add damage around it.
    const record = lines(path).find((l) => l.msg === id)!;
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path);
    appendFileSync(path, '{"id": "dlv_x", "msg": \n');
    appendFileSync(path, JSON.stringify({ ...record, url: r.url }) + '\n');
    appendFileSync(path, '{"id":"dlv_y","msg":"msg_torn","url":"http');
    const warnings: AlertWarning[] = [];
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path }, warnings);
    expect(await sender.start()).toEqual({ resumed: 1 });
    expect(warnings.map((w) => w.code).sort()).toEqual(['ALERT_OUTBOX_CORRUPT_LINE', 'ALERT_OUTBOX_TORN_LINE']);
    await waitFor(() => r.delivered().has(id));
    expect(readFileSync(path, 'utf8')).not.toContain('msg_torn');
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
  });

  it('gives up a pending delivery whose endpoint is no longer configured', async () => {
    const path = outboxPath();
    const seed = alerts({ endpoints: [{ url: 'http://127.0.0.1:9/gone', secret: SECRET }], outboxPath: path, retry: [60_000] });
    await seed.start();
    seed.send(exhausted());
    await waitFor(() => lines(path).some((l) => l.attempts === 1));
    await seed.close();
    const r = await receiver();
    const warnings: AlertWarning[] = [];
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path }, warnings);
    expect(await sender.start()).toEqual({ resumed: 0 });
    expect(sender.stats().failed).toBe(1);
    expect(warnings[0]).toMatchObject({ code: 'ALERT_ENDPOINT_GONE' });
  });

  it('keeps at most maxQueued deliveries pending, dropping the oldest and counting them', async () => {
    const r = await receiver(() => 'hang');
    const warnings: AlertWarning[] = [];
    const path = outboxPath();
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, concurrency: 1, maxQueued: 3, timeoutMs: 30_000 }, warnings);
    await sender.start();
    const ids = Array.from({ length: 6 }, (_, i) => sender.send(threshold(75, `u-${i}`))!);
    await waitFor(() => r.received.length === 1);
    // The first is in flight (never dropped); of the 5 waiting, the 3 oldest went.
    expect(sender.stats()).toEqual({ pending: 3, delivered: 0, failed: 0, dropped: 3 });
    expect(warnings.filter((w) => w.code === 'ALERT_DROPPED')).toHaveLength(1);
    r.plan = () => 'ok';
    r.release();
    await waitFor(() => sender.stats().pending === 0);
    expect(sender.stats()).toEqual({ pending: 0, delivered: 3, failed: 0, dropped: 3 });
    expect([...new Set(r.received.map((x) => x.id))].sort()).toEqual([ids[0], ids[4], ids[5]].sort());
    await sender.close();
    const next = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path });
    expect(await next.start()).toEqual({ resumed: 0 }); // dropped ones do not come back
  });

  it('compacts the outbox as it grows, keeping exactly the pending deliveries', async () => {
    let up = true;
    const r = await receiver(() => (up ? 'ok' : 503));
    const path = outboxPath();
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path, compactBytes: 4_000, retry: [60_000] });
    await sender.start();
    for (let i = 0; i < 40; i++) sender.send(threshold(75, `u-${i}`));
    await waitFor(() => sender.stats().delivered === 40);
    up = false;
    const pending = [sender.send(exhausted('p-1'))!, sender.send(exhausted('p-2'))!];
    await waitFor(() => r.received.length === 42);
    // 40 records of ~700 bytes and their marks were written; compaction left far less.
    expect(statSync(path).size).toBeLessThan(8_000);
    await sender.close();
    up = true;
    const next = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: path });
    expect(await next.start()).toEqual({ resumed: 2 });
    await waitFor(() => pending.every((id) => r.delivered().has(id)));
  });

  it('checks its options, naming the option and never echoing a secret', () => {
    const base = { outboxPath: join(dir, 'never') };
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'ftp://x', secret: SECRET }] })).toThrow(/^endpoints\[0\]\.url: must be an http/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 'whsec_c2hvcnQ=' }] })).toThrow(/^endpoints\[0\]\.secret: .*at least 24 bytes \(got "\[redacted\]"\)/);
    try {
      new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 'whsec_c2hvcnQ=' }] });
    } catch (err) {
      expect((err as Error).message).not.toContain('c2hvcnQ');
    }
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 's', events: ['warning' as 'threshold'] }] })).toThrow(/^endpoints\[0\]\.events\[0\]: must be "threshold" or "exhausted"/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [] })).toThrow(/^endpoints: must list at least one endpoint/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 's' }, { url: 'http://x', secret: 't' }] })).toThrow(/^endpoints: must not list a url twice/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 's' }], retry: [-1] })).toThrow(/^retry\[0\]: must be an integer >= 0/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 's' }], timeoutMs: 0 })).toThrow(/^timeoutMs: must be an integer >= 1/);
    expect(() => new WebhookAlerts({ endpoints: [{ url: 'http://x', secret: 's' }] } as WebhookAlertsOptions)).toThrow(/^outboxPath: must be a file path/);
    expect(() => new WebhookAlerts({ ...base, endpoints: [{ url: 'http://x', secret: 's' }], retires: [1] } as WebhookAlertsOptions)).toThrow(/^retires: unknown WebhookAlerts option/);
    expect(() => new WebhookAlerts(null as unknown as WebhookAlertsOptions)).toThrow(/^options: /);
  });

  it('gives up at once on 410 Gone (the receiver wants no more), and reads Retry-After', async () => {
    const r = await receiver(() => 410);
    const warnings: AlertWarning[] = [];
    const sender = alerts({ endpoints: [{ url: r.url, secret: SECRET }], outboxPath: outboxPath() }, warnings);
    await sender.start();
    sender.send(exhausted());
    await waitFor(() => sender.stats().failed === 1);
    expect(r.received).toHaveLength(1);
    expect(warnings[0]!.message).toContain('HTTP 410: the receiver asked for no more deliveries');
    expect(parseRetryAfter('120', 0)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:01:00 GMT', 30_000)).toBe(30_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });

  it('never lets a dead endpoint hold up a live one', async () => {
    const dead = await receiver(() => 'hang');
    const live = await receiver();
    const sender = alerts({ endpoints: [{ url: dead.url, secret: SECRET }, { url: live.url, secret: SECRET }], outboxPath: outboxPath(), concurrency: 1, timeoutMs: 30_000, closeTimeoutMs: 50 });
    await sender.start();
    const ids = [sender.send(exhausted('a'))!, sender.send(exhausted('b'))!, sender.send(exhausted('c'))!];
    await waitFor(() => sender.stats().delivered === 3);
    expect([...live.delivered().keys()]).toEqual(ids);
    expect(dead.received).toHaveLength(1);
    expect(sender.stats()).toEqual({ pending: 3, delivered: 3, failed: 0, dropped: 0 });
  });

  it('refuses a second sender on the same outbox until the first has closed', async () => {
    const path = outboxPath();
    const endpoints = [{ url: 'http://127.0.0.1:9/x', secret: SECRET }];
    const first = alerts({ endpoints, outboxPath: path });
    await first.start();
    const second = alerts({ endpoints, outboxPath: path });
    await expect(second.start()).rejects.toMatchObject({ code: 'ALERT_OUTBOX_LOCKED' });
    await first.close();
    const third = alerts({ endpoints, outboxPath: path });
    await expect(third.start()).resolves.toEqual({ resumed: 0 });
  });

  it('refuses send() before start(), and after close() warns instead of throwing (a ledger listener must not throw)', async () => {
    const warnings: AlertWarning[] = [];
    const sender = alerts({ endpoints: [{ url: 'http://127.0.0.1:9/x', secret: SECRET }], outboxPath: outboxPath() }, warnings);
    expect(() => sender.send(exhausted())).toThrow(/call start\(\) first/);
    await sender.start();
    await sender.close();
    expect(sender.send(exhausted())).toBeUndefined();
    expect(warnings).toEqual([{ code: 'ALERT_AFTER_CLOSE', message: 'alert webhooks closed: not sending the exhausted alert of user-daily/u-7' }]);
  });
});
