import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestGateway, type TestGateway } from './harness.js';

let tg: TestGateway;

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 10, 1, 12, 0, 0); // 2024-11-01T12:00Z

beforeAll(async () => {
  tg = await startTestGateway();
  // dayOffset, model, agent: `my-local-model` has no known price, `gpt-4o` has one.
  const rows: Array<[number, string, string]> = [
    [0, 'gpt-4o', 'writer'],
    [0, 'my-local-model', 'writer'],
    [1, 'my-local-model', 'local'],
  ];
  for (const [d, model, agent] of rows) {
    tg.tracker.record({ threadId: 't', agentId: agent, model, provider: 'openai', promptTokens: 1000, completionTokens: 100, latencyMs: 10, timestamp: T0 + d * DAY });
  }
});
afterAll(async () => {
  await tg.close();
});

describe('usage API: unpriced usage', () => {
  it('reports an unpriced model with cost null and a count of unpriced requests, never $0', async () => {
    const r = await call(`${tg.url}/v1/usage/summary`);
    expect(r.status).toBe(200);
    const byModel = r.body.by_model as Array<Record<string, unknown>>;
    const local = byModel.find((m) => m.model === 'my-local-model')!;
    expect(local).toMatchObject({ request_count: 2, cost_nanos: null, cost_usd: null, unpriced_requests: 2 });
    const gpt = byModel.find((m) => m.model === 'gpt-4o')!;
    expect(gpt.unpriced_requests).toBe(0);
    expect(gpt.cost_nanos).toBeGreaterThan(0);
    // Totals: the priced sum, with the unpriced requests counted beside it.
    expect(r.body.totals).toMatchObject({ request_count: 3, cost_nanos: gpt.cost_nanos, unpriced_requests: 2 });
    const byAgent = r.body.by_agent as Array<Record<string, unknown>>;
    expect(byAgent.find((a) => a.agent_id === 'local')).toMatchObject({ cost_nanos: null, cost_usd: null, unpriced_requests: 1 });
    expect(byAgent.find((a) => a.agent_id === 'writer')).toMatchObject({ cost_nanos: gpt.cost_nanos, unpriced_requests: 1 });
  });

  it('gives unpriced days a null cost in the daily series', async () => {
    const r = await call(`${tg.url}/v1/usage/daily`);
    expect(r.status).toBe(200);
    const data = r.body.data as Array<Record<string, unknown>>;
    expect(data.map((d) => [d.date, d.request_count, d.cost_nanos === null, d.unpriced_requests])).toEqual([
      ['2024-11-01', 2, false, 1],
      ['2024-11-02', 1, true, 1],
    ]);
    expect(data[1]!.cost_usd).toBeNull();
  });

  it('an empty period costs 0 with no unpriced requests', async () => {
    const r = await call(`${tg.url}/v1/usage/summary?since=2030-01-01`);
    expect(r.body.totals).toMatchObject({ request_count: 0, cost_nanos: 0, cost_usd: 0, unpriced_requests: 0 });
  });
});
