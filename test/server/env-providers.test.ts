import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { buildRuntime } from '../../src/server/build-runtime.js';
import { loadConfig } from '../../src/server/load-config.js';
import type { ConfigEnv } from '../../src/server/validate-config.js';
import { HELLO, call, errorOf } from '../gateway/harness.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-envprov-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A gateway on 127.0.0.1 built like `serve` does, from no file and these provider keys. */
async function gatewayFromEnv(env: ConfigEnv, db: string) {
  const config = await loadConfig({ env: { TOKENWARDEN_DB: join(dir, db) }, cwd: dir });
  const rt = await buildRuntime(config, { env });
  const gateway = createGateway({ router: rt.router, store: rt.store, keys: rt.keys, models: rt.models, logError: () => undefined });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return {
    rt,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await gateway.close();
      await rt.close();
    },
  };
}

function idsOf(body: Record<string, unknown>): string[] {
  return (body.data as Array<{ id: string }>).map((m) => m.id);
}

describe('backends built from environment keys', () => {
  it("serve only their provider's models: a claude model with only OPENAI_API_KEY is a 404 model_not_found, no upstream call", async () => {
    const gw = await gatewayFromEnv({ OPENAI_API_KEY: 'sk-test-not-used' }, 'openai-only.db');
    try {
      const openai = gw.rt.router.backends[0]!;
      const complete = vi.spyOn(openai, 'complete');
      const started = Date.now();
      const r = await call(`${gw.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'env' }, body: { model: 'claude-3-5-sonnet', messages: HELLO, max_tokens: 20 } });
      expect(r.status).toBe(404);
      expect(errorOf(r.body)).toMatchObject({ code: 'model_not_found' });
      expect(errorOf(r.body).message).toMatch(/"claude-3-5-sonnet".*configured backends: openai$/);
      expect(complete).not.toHaveBeenCalled();
      expect(Date.now() - started).toBeLessThan(1000);

      const ids = idsOf((await call(`${gw.url}/v1/models`)).body);
      expect(ids).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini', 'o3', 'chatgpt-4o-latest']));
      expect(ids.some((id) => id.startsWith('claude') || id.startsWith('grok'))).toBe(false);
      expect((await call(`${gw.url}/v1/models/claude-3-5-sonnet`)).status).toBe(404);
      expect((await call(`${gw.url}/v1/models/gpt-4o`)).body).toMatchObject({ id: 'gpt-4o', owned_by: 'openai' });
    } finally {
      await gw.close();
    }
  });

  it('route each provider its own models when several keys are set', async () => {
    const gw = await gatewayFromEnv({ ANTHROPIC_API_KEY: 'sk-ant-test', XAI_API_KEY: 'xai-test' }, 'anthropic-xai.db');
    try {
      const [anthropic, xai] = gw.rt.router.backends;
      expect(anthropic!.servesModel('claude-sonnet-4-5')).toBe(true);
      expect(anthropic!.servesModel('grok-3')).toBe(false);
      expect(xai!.servesModel('grok-3')).toBe(true);
      const data = (await call(`${gw.url}/v1/models`)).body.data as Array<{ id: string; owned_by: string }>;
      expect(data.find((m) => m.id === 'claude-sonnet-4-5')?.owned_by).toBe('anthropic');
      expect(data.find((m) => m.id === 'grok-3')?.owned_by).toBe('xai');
      expect(data.some((m) => m.id.startsWith('gpt-'))).toBe(false);
      const r = await call(`${gw.url}/v1/chat/completions`, { body: { model: 'gpt-4o', messages: HELLO } });
      expect(r.status).toBe(404);
      expect(errorOf(r.body).message).toContain('configured backends: anthropic, xai');
    } finally {
      await gw.close();
    }
  });
});
