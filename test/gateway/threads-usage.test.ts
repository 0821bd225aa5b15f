import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

let tg: TestGateway;

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 10, 1, 12, 0, 0); // 2024-11-01T12:00Z

beforeAll(async () => {
  tg = await startTestGateway({ maxTokensPerThread: 1_000 });
  // Seed the store through the router's tracker: the gateway attached the store to it.
  const rows: Array<[number, string, string, string | null, string, number, number]> = [
    // dayOffset, org, model, agent, thread, prompt, completion
    [0, 'acme', 'gpt-4o-mini', 'planner', 'acme/t1', 100, 10],
    [0, 'acme', 'gpt-4o', 'writer', 'acme/t1', 200, 20],
    [1, 'acme', 'gpt-4o-mini', 'planner', 'acme/t2', 300, 30],
    [1, 'beta', 'gpt-4o-mini', null, 'beta/t1', 400, 40],
    [2, 'beta', 'claude-3-5-haiku-latest', 'critic', 'beta/t9', 500, 50],
  ];
  for (const [d, org, model, agent, thread, p, c] of rows) {
    tg.tracker.record({
      threadId: thread,
      agentId: agent,
      model,
      provider: model.startsWith('claude') ? 'anthropic' : 'openai',
      promptTokens: p,
      completionTokens: c,
      latencyMs: 10,
      metadata: { org_id: org, user_id: `${org}-user` },
      timestamp: T0 + d * DAY,
    });
  }
});
afterAll(async () => {
  await tg.close();
});

describe('thread endpoints', () => {
  it('reports a thread after a call, lists it, and ends it with its final usage', async () => {
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: { 'x-thread-id': 'life' },
      body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 100 },
    });
    expect(r.status).toBe(200);
    const got = await call(`${tg.url}/v1/threads/life`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      object: 'thread',
      id: 'life',
      org_id: null,
      max_tokens: 1000,
      prompt_tokens: 12,
      completion_tokens: 8,
      total_tokens: 20,
      reserved_tokens: 0,
      remaining_tokens: 980,
      request_count: 1,
      percent_used: 2,
    });
    expect(typeof got.body.last_activity).toBe('number');

    const list = await call(`${tg.url}/v1/threads`);
    expect(list.status).toBe(200);
    const data = list.body.data as Array<Record<string, unknown>>;
    expect(data.find((t) => t.id === 'life')).toMatchObject({ total_tokens: 20, max_tokens: 1000 });

    const del = await call(`${tg.url}/v1/threads/life`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ object: 'thread.deleted', id: 'life', deleted: true, usage: { total_tokens: 20, request_count: 1 } });
    expect((await call(`${tg.url}/v1/threads/life`)).status).toBe(404);
    const after = await call(`${tg.url}/v1/threads`);
    expect((after.body.data as Array<{ id: string }>).some((t) => t.id === 'life')).toBe(false);
    const again = await call(`${tg.url}/v1/threads/life`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(errorOf(again.body).code).toBe('thread_not_found');
  });

  it('sets a thread budget and validates the body', async () => {
    const put = await call(`${tg.url}/v1/threads/big/budget`, { method: 'PUT', body: { max_tokens: 5000 } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: 'big', max_tokens: 5000, remaining_tokens: 5000, total_tokens: 0 });

    const cases: Array<[unknown, string]> = [
      [{ max_tokens: 'lots' }, 'max_tokens'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ max_tokens: 1.5 }, 'max_tokens'],
      [{ max_tokens: 10, extra: 1 }, 'extra'],
      [[1, 2], 'body'],
    ];
    for (const [body, param] of cases) {
      const r = await call(`${tg.url}/v1/threads/big/budget`, { method: 'PUT', body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(r.body).param).toBe(param);
    }
    const malformed = await call(`${tg.url}/v1/threads/big/budget`, { method: 'PUT', rawBody: '{"max_tokens": ' });
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed.body).code).toBe('invalid_json');
  });

  it('keeps the threads of different orgs apart (x-org-id without keys)', async () => {
    for (const org of ['o-a', 'o-b']) {
      const r = await call(`${tg.url}/v1/chat/completions`, {
        headers: { 'x-thread-id': 'shared', 'x-org-id': org },
        body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 10 },
      });
      expect(r.status).toBe(200);
    }
    await call(`${tg.url}/v1/chat/completions`, {
      headers: { 'x-thread-id': 'shared', 'x-org-id': 'o-a' },
      body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 10 },
    });
    const a = await call(`${tg.url}/v1/threads/shared`, { headers: { 'x-org-id': 'o-a' } });
    const b = await call(`${tg.url}/v1/threads/shared`, { headers: { 'x-org-id': 'o-b' } });
    expect(a.body).toMatchObject({ org_id: 'o-a', request_count: 2, total_tokens: 40 });
    expect(b.body).toMatchObject({ org_id: 'o-b', request_count: 1, total_tokens: 20 });
    const listB = await call(`${tg.url}/v1/threads?org_id=o-b`);
    expect((listB.body.data as Array<{ id: string; org_id: string }>).map((t) => `${t.org_id}/${t.id}`)).toEqual(['o-b/shared']);
  });

  it('rejects bad thread ids in paths and headers with 400 naming them', async () => {
    const long = 'x'.repeat(129);
    for (const path of [`/v1/threads/${long}`, '/v1/threads/bad%20id', '/v1/threads/%E0%A4%A', '/v1/threads/a%2Fb']) {
      const r = await call(`${tg.url}${path}`);
      expect(r.status, path).toBe(400);
      expect(errorOf(r.body).param).toBe('id');
    }
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: { 'x-thread-id': 'no spaces allowed' },
      body: { model: 'gpt-4o-mini', messages: HELLO },
    });
    expect(r.status).toBe(400);
    expect(errorOf(r.body)).toMatchObject({ param: 'x-thread-id', code: 'invalid_id' });
    expect(errorOf(r.body).message).toContain('"no spaces allowed"');
  });

  it('validates the listing parameters', async () => {
    expect((await call(`${tg.url}/v1/threads?limit=0`)).status).toBe(400);
    const r = await call(`${tg.url}/v1/threads?sort=asc`);
    expect(r.status).toBe(400);
    expect(errorOf(r.body).param).toBe('sort');
  });
});

describe('usage API', () => {
  it('summarises by model and agent with filters', async () => {
    const all = await call(`${tg.url}/v1/usage/summary?since=2024-11-01&until=2024-11-04`);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ object: 'usage.summary', since: T0 - 12 * 3_600_000, org_id: null });
    expect(all.body.totals).toMatchObject({ prompt_tokens: 1500, completion_tokens: 150, total_tokens: 1650, request_count: 5 });
    const byModel = all.body.by_model as Array<{ model: string; total_tokens: number }>;
    expect(byModel.find((m) => m.model === 'gpt-4o-mini')!.total_tokens).toBe(110 + 330 + 440);
    const byAgent = all.body.by_agent as Array<{ agent_id: string | null; request_count: number }>;
    expect(byAgent.find((a) => a.agent_id === 'planner')!.request_count).toBe(2);
    expect(byAgent.find((a) => a.agent_id === null)!.request_count).toBe(1);

    const acme = await call(`${tg.url}/v1/usage/summary?org_id=acme&model=gpt-4o-mini&until=${T0 + 2 * DAY}`);
    expect(acme.body.totals).toMatchObject({ total_tokens: 110 + 330, request_count: 2 });
    expect(acme.body.org_id).toBe('acme');

    const cost = all.body.totals as { cost_nanos: number; cost_usd: number };
    expect(cost.cost_usd).toBeCloseTo(cost.cost_nanos / 1e9, 12);
  });

  it('gives a daily series', async () => {
    const r = await call(`${tg.url}/v1/usage/daily?since=2024-11-01T00:00:00Z&until=2024-11-10`);
    expect(r.status).toBe(200);
    const data = r.body.data as Array<{ date: string; total_tokens: number; request_count: number }>;
    expect(data.map((d) => [d.date, d.request_count, d.total_tokens])).toEqual([
      ['2024-11-01', 2, 330],
      ['2024-11-02', 2, 770],
      ['2024-11-03', 1, 550],
    ]);
  });

  it('pages through events with limit and cursor, oldest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `since=${T0}&until=${T0 + 3 * DAY}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r = await call(`${tg.url}/v1/usage/events?${qs}`);
      expect(r.status).toBe(200);
      const data = r.body.data as Array<{ id: string; timestamp: number; thread_id: string; org_id: string }>;
      expect(data.length).toBeLessThanOrEqual(2);
      seen.push(...data.map((e) => `${e.org_id}:${e.thread_id}:${e.timestamp}`));
      cursor = r.body.next_cursor as string | null;
      expect(r.body.has_more).toBe(cursor !== null);
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([
      `acme:t1:${T0}`,
      `acme:t1:${T0}`,
      `acme:t2:${T0 + DAY}`,
      `beta:t1:${T0 + DAY}`,
      `beta:t9:${T0 + 2 * DAY}`,
    ]);
  });

  it('filters events by thread within an org and shows the client thread id', async () => {
    const r = await call(`${tg.url}/v1/usage/events?org_id=beta&thread_id=t1`);
    const data = r.body.data as Array<Record<string, unknown>>;
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({
      thread_id: 't1',
      org_id: 'beta',
      user_id: 'beta-user',
      agent_id: null,
      prompt_tokens: 400,
      completion_tokens: 40,
      total_tokens: 440,
      object: 'usage.event',
    });
  });

  it('rejects bad query parameters with 400 naming them', async () => {
    const cases: Array<[string, string]> = [
      ['since=yesterday', 'since'],
      ['until=2024-13-45', 'until'],
      [`since=${T0}&until=${T0}`, 'until'],
      ['limit=0', 'limit'],
      ['limit=5000', 'limit'],
      ['limit=ten', 'limit'],
      ['colour=blue', 'colour'],
      ['model=a&model=b', 'model'],
      ['org_id=bad%20org', 'org_id'],
      ['thread_id=' + 'x'.repeat(200), 'thread_id'],
      ['cursor=not-a-real-cursor', 'cursor'],
    ];
    for (const [qs, param] of cases) {
      const r = await call(`${tg.url}/v1/usage/events?${qs}`);
      expect(r.status, qs).toBe(400);
      expect(errorOf(r.body).param, qs).toBe(param);
    }
    // Paging parameters belong to /events only.
    const s = await call(`${tg.url}/v1/usage/summary?limit=5`);
    expect(s.status).toBe(400);
    expect(errorOf(s.body).param).toBe('limit');
  });
});
