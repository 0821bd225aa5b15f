import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { buildRuntime, type Runtime } from '../../src/server/build-runtime.js';
import { loadConfig } from '../../src/server/load-config.js';
import { HELLO, call } from './harness.js';

/**
 * A gateway built from a tokenwarden.yaml with a `prices:` section, as `serve` builds it (config →
 * buildRuntime → createGateway), in front of the offline mock provider: the stored events and the usage
 * API are priced at the configured rates, not the catalog's.
 */
let dir: string;
let rt: Runtime;
let gateway: Gateway;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-gw-prices-'));
  const file = join(dir, 'tokenwarden.yaml');
  await writeFile(
    file,
    `store: { sqlite: usage.db }
prices:
  my-llama-*: { input: 0.2, output: 0.6 }
  gpt-4o-mini: { input: 3, output: 7 }
`,
  );
  rt = await buildRuntime(await loadConfig({ file, env: {} }), { env: {} });
  gateway = createGateway({ router: rt.router, store: rt.store, models: rt.models, logError: () => undefined });
  const { port } = await gateway.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await gateway?.close();
  await rt?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One chat call through the gateway, then its stored event from the usage API. */
async function eventOf(model: string, thread: string): Promise<Record<string, unknown>> {
  const r = await call(`${url}/v1/chat/completions`, {
    headers: { 'x-thread-id': thread },
    body: { model, messages: HELLO, max_tokens: 20 },
  });
  expect(r.status).toBe(200);
  const events = await call(`${url}/v1/usage/events?thread_id=${thread}`);
  const data = events.body.data as Array<Record<string, unknown>>;
  expect(data).toHaveLength(1);
  return data[0]!;
}

/** nano-USD of `prompt` and `completion` tokens at `input`/`output` USD per 1M tokens. */
const nanos = (prompt: number, completion: number, input: number, output: number): number =>
  Math.round(prompt * input * 1000 + completion * output * 1000);

describe('gateway: prices from the config', () => {
  it('charges a model priced by a prefix key at the configured rates', async () => {
    const e = await eventOf('my-llama-3-8b', 'llama');
    const prompt = e.prompt_tokens as number;
    const completion = e.completion_tokens as number;
    expect(prompt).toBeGreaterThan(0);
    expect(completion).toBeGreaterThan(0);
    expect(e.cost_nanos).toBe(nanos(prompt, completion, 0.2, 0.6));
    expect(e.cost_usd).toBe(nanos(prompt, completion, 0.2, 0.6) / 1e9);
  });

  it('charges a catalog model named by an exact key at the configured rate, not the catalog one', async () => {
    const e = await eventOf('gpt-4o-mini', 'mini');
    const configured = nanos(e.prompt_tokens as number, e.completion_tokens as number, 3, 7);
    const catalog = nanos(e.prompt_tokens as number, e.completion_tokens as number, 0.15, 0.6);
    expect(e.cost_nanos).toBe(configured);
    expect(e.cost_nanos).not.toBe(catalog);
    const summary = await call(`${url}/v1/usage/summary?thread_id=mini`);
    expect(summary.body.totals).toMatchObject({ request_count: 1, cost_nanos: configured, unpriced_requests: 0 });
  });

  it('leaves a model the config does not name to the catalog', async () => {
    const e = await eventOf('gpt-4o', 'catalog');
    expect(e.cost_nanos).toBe(nanos(e.prompt_tokens as number, e.completion_tokens as number, 2.5, 10));
    expect(rt.prices.resolvePrice('gpt-4o')?.source).toBe('catalog');
  });
});
