import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { MockBackend } from '../../src/providers/mock.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

interface ModelObject {
  id: string;
  object: string;
  created: number;
  owned_by: string;
}

function idsOf(body: Record<string, unknown>): string[] {
  return (body.data as ModelObject[]).map((m) => m.id);
}

describe('GET /v1/models with exact model names', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway({ backends: [new MockBackend({ name: 'local', models: ['llama3', 'qwen2', 'org/tuned'] })] });
  });
  afterAll(() => tg.close());

  it('lists the configured names in OpenAI list format', async () => {
    const r = await call(`${tg.url}/v1/models`);
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('list');
    expect(idsOf(r.body)).toEqual(['llama3', 'qwen2', 'org/tuned']);
    for (const m of r.body.data as ModelObject[]) {
      expect(m).toEqual({ id: m.id, object: 'model', created: expect.any(Number) as number, owned_by: 'mock' });
    }
  });

  it('answers one model, its id percent-encoded in the path', async () => {
    const r = await call(`${tg.url}/v1/models/qwen2`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id: 'qwen2', object: 'model', created: expect.any(Number) as number, owned_by: 'mock' });
    expect((await call(`${tg.url}/v1/models/org%2Ftuned`)).body.id).toBe('org/tuned');
  });

  it('answers an unknown model with 404 model_not_found in OpenAI error shape', async () => {
    for (const path of ['/v1/models/gpt-4o', '/v1/models/%E0%A4%A', '/v1/models/']) {
      const r = await call(`${tg.url}${path}`);
      expect(r.status, path).toBe(404);
      expect(r.body).toEqual({
        error: { message: expect.stringContaining('configured backends: local') as string, type: 'invalid_request_error', param: null, code: 'model_not_found' },
      });
    }
    expect(errorOf((await call(`${tg.url}/v1/models/gpt-4o`)).body).message).toContain('"gpt-4o"');
  });
});

describe('GET /v1/models with wildcard backends', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway({
      backends: [
        new OpenAICompatibleBackend({ name: 'oa', provider: 'openai', baseUrl: 'http://127.0.0.1:9/v1', models: ['gpt-4o*', 'my-exact'] }),
        new AnthropicBackend({ name: 'claude', baseUrl: 'http://127.0.0.1:9', apiKey: 'k', models: '*' }),
        new OpenAICompatibleBackend({ name: 'gpu', provider: 'vllm', baseUrl: 'http://127.0.0.1:9/v1', models: '*' }),
      ],
    });
  });
  afterAll(() => tg.close());

  it('lists the priced catalog models of each provider that match its patterns', async () => {
    const r = await call(`${tg.url}/v1/models`);
    const data = r.body.data as ModelObject[];
    const ids = data.map((m) => m.id);
    expect(ids[0]).toBe('my-exact');
    expect(ids).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'claude-3-5-sonnet']));
    expect(ids).not.toContain('gpt-4.1');
    expect(ids).not.toContain('o3');
    expect(ids.some((id) => id.includes(':') || id.endsWith('-'))).toBe(false);
    expect(new Set(ids).size).toBe(ids.length);
    expect(data.find((m) => m.id === 'gpt-4o')!.owned_by).toBe('openai');
    expect(data.find((m) => m.id === 'claude-sonnet-4-5')!.owned_by).toBe('anthropic');
    expect(data.filter((m) => m.owned_by === 'vllm')).toEqual([]); // a self-hosted server's models are unknown
  });

  it('answers a served model that is not listed (a dated name behind a pattern)', async () => {
    const r = await call(`${tg.url}/v1/models/gpt-4o-2024-08-06`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 'gpt-4o-2024-08-06', object: 'model', owned_by: 'openai' });
  });
});

describe('the mock provider with "*"', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway({ backends: [new MockBackend({ name: 'mock', models: '*' })] });
  });
  afterAll(() => tg.close());

  it('lists mock and the catalog models of openai and anthropic', async () => {
    const data = (await call(`${tg.url}/v1/models`)).body.data as ModelObject[];
    expect(data[0]).toMatchObject({ id: 'mock', owned_by: 'mock' });
    expect(data.map((m) => m.id)).toEqual(expect.arrayContaining(['gpt-4o', 'o3', 'claude-sonnet-4-5']));
    expect(data.every((m) => m.owned_by === 'mock')).toBe(true);
  });
});

describe('a model no backend serves', () => {
  let upstream: FakeServer<OpenAIScenario>;
  let tg: TestGateway;
  beforeAll(async () => {
    upstream = await startFakeOpenAIServer();
    tg = await startTestGateway({
      backends: [new OpenAICompatibleBackend({ name: 'oa', provider: 'openai', baseUrl: upstream.url, models: ['gpt-*'] })],
      maxAttempts: 3,
    });
  });
  afterAll(async () => {
    await tg.close();
    await upstream.close();
  });

  it('is a 404 model_not_found on POST /v1/chat/completions naming the model and the backends, without an upstream call', async () => {
    const complete = vi.spyOn(tg.router.backends[0]!, 'complete');
    for (const stream of [false, true]) {
      const r = await call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'nm' }, body: { model: 'claude-3-5-sonnet', messages: HELLO, stream } });
      expect(r.status).toBe(404);
      expect(errorOf(r.body)).toMatchObject({ code: 'model_not_found' });
      expect(errorOf(r.body).message).toContain('"claude-3-5-sonnet"');
      expect(errorOf(r.body).message).toContain('configured backends: oa');
    }
    expect(complete).not.toHaveBeenCalled();
    expect(upstream.requests).toHaveLength(0);
    const ok = await call(`${tg.url}/v1/chat/completions`, { body: { model: 'gpt-4o-mini', messages: HELLO } });
    expect(ok.status).toBe(200);
  });
});

describe('the official openai package', () => {
  let tg: TestGateway;
  let client: OpenAI;
  beforeAll(async () => {
    tg = await startTestGateway({
      backends: [new MockBackend({ name: 'local', models: ['llama3', 'org/tuned'] })],
      keys: [{ name: 'k', sha256: hashGatewayKey('sk-models-test'), org: 'acme' }],
    });
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-models-test', maxRetries: 0 });
  });
  afterAll(() => tg.close());

  it('lists and retrieves models', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['llama3', 'org/tuned']);
    const one = await client.models.retrieve('org/tuned');
    expect(one).toMatchObject({ id: 'org/tuned', object: 'model', owned_by: 'mock' });
    const err = await client.models.retrieve('gpt-4o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });

  it('needs a key for both endpoints', async () => {
    expect((await call(`${tg.url}/v1/models`)).status).toBe(401);
    expect((await call(`${tg.url}/v1/models/llama3`)).status).toBe(401);
  });
});
