import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendRequest, LLMResponse } from '../../src/core/types.js';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { hangUntilAborted, okResponse, TestBackend } from '../router/helpers.js';

let gateway: Gateway;
let url: string;
const ledger = new MemoryBudgetLedger();
const tracker = new UsageTracker();
let started: (req: BackendRequest) => void = () => undefined;
/** Answers the call that is waiting (the 'hang please' one). */
let answer: (res: LLMResponse) => void = () => undefined;
const backend = new TestBackend({
  name: 'hang',
  respond: (req) => {
    started(req);
    if (req.messages.some((m) => m.content === 'quick')) return okResponse('fine');
    return new Promise<LLMResponse>((resolve, reject) => {
      answer = resolve;
      hangUntilAborted(req.signal).catch(reject);
    });
  },
});

beforeAll(async () => {
  const router = new LLMRouter({ backends: [backend], ledger, tracker, estimateTokens: () => 5 });
  gateway = createGateway({ router });
  const addr = await gateway.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${addr.port}/v1/chat/completions`;
});
afterAll(async () => {
  await gateway.close();
});

function post(content: string, thread: string): { done: Promise<number>; destroy: () => void } {
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content }], max_tokens: 10 });
  const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': thread } });
  const done = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  req.end(body);
  return { done, destroy: () => req.destroy() };
}

describe('client disconnect during a non-streaming call', () => {
  it('does not abort the provider call: it is read to its end and charged what the provider reports', async () => {
    const reached = new Promise<BackendRequest>((resolve) => (started = resolve));
    const client = post('hang please', 'leaver');
    const req = await reached;
    expect((await ledger.usage('leaver'))!.reservedTokens).toBe(15);
    client.destroy();
    await client.done.catch(() => undefined);
    // Give the gateway time to notice the close: the provider call must still be running.
    await new Promise((r) => setTimeout(r, 50));
    expect(req.signal!.aborted).toBe(false);
    answer(okResponse('late answer'));
    const end = Date.now() + 3000;
    while ((await ledger.usage('leaver'))!.totalTokens === 0) {
      if (Date.now() > end) throw new Error('the call was not charged after the client left');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await ledger.usage('leaver')).toMatchObject({ reservedTokens: 0, totalTokens: 15 });
    expect(tracker.getTotals().requestCount).toBe(1);
  });

  it('a client that stays gets its answer and its call is never aborted', async () => {
    let seen: BackendRequest | undefined;
    started = (req) => (seen = req);
    expect(await post('quick', 'stayer').done).toBe(200);
    expect(seen!.signal!.aborted).toBe(false);
    expect(await ledger.usage('stayer')).toMatchObject({ reservedTokens: 0, totalTokens: 15 });
  });
});

describe('shutdown while a call whose client left is still running', () => {
  it('waits for the call and stores its usage event before closing the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-disconnect-'));
    const path = join(dir, 'usage.db');
    let reachedUpstream: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (reachedUpstream = resolve));
    let answerLate: (res: LLMResponse) => void = () => undefined;
    const slow = new TestBackend({
      name: 'slow',
      respond: () =>
        new Promise<LLMResponse>((resolve) => {
          answerLate = resolve;
          reachedUpstream();
        }),
    });
    const router = new LLMRouter({ backends: [slow], ledger: new MemoryBudgetLedger(), tracker: new UsageTracker(), estimateTokens: () => 5 });
    const gw = createGateway({ router, store: new SqliteUsageStore({ path, writer: 'thread' }), shutdownTimeoutMs: 5_000 });
    const { port } = await gw.listen(0, '127.0.0.1');
    try {
      const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'slow' }], max_tokens: 10 });
      const req = httpRequest(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-thread-id': 'left' },
      });
      req.on('error', () => undefined);
      req.end(body);
      await reached;
      req.destroy();
      const closing = gw.close();
      // The provider answers only once shutdown has begun and the client is long gone.
      await new Promise((r) => setTimeout(r, 50));
      answerLate(okResponse('late answer'));
      await closing;
      const reopened = new SqliteUsageStore({ path, reader: 'inline' });
      expect(await reopened.count({ threadId: 'left' })).toBe(1);
      await reopened.close();
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
