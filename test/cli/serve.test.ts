import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runServeCommand } from '../../src/cli/serve.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-serve-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

/** Starts `serve` in-process; resolves once it listens (or with the exit code if it fails to start). */
function serve(argv: string[], env: Record<string, string>) {
  const stop = new AbortController();
  const cap = capture();
  let resolveUrl: (url: string) => void;
  const ready = new Promise<string>((r) => (resolveUrl = r));
  const done = runServeCommand(argv, cap.io, { env, cwd: dir, signal: stop.signal, handleSignals: false, onListening: ({ url }) => resolveUrl(url) });
  const started = Promise.race([ready.then((url) => ({ url })), done.then((code) => ({ code }))]);
  return { started, done, stop, ...cap };
}

describe('tokenwarden serve', () => {
  it('serves the mock provider when there are no provider keys, says so, and stops gracefully', async () => {
    const db = join(dir, 'mock.db');
    const s = serve(['--port', '0'], { TOKENWARDEN_DB: db });
    const started = await s.started;
    expect('url' in started).toBe(true);
    const url = (started as { url: string }).url;
    const banner = s.out.join('');
    expect(banner).toContain(`tokenwarden gateway listening on ${url}`);
    expect(banner).toContain('mock provider: no provider keys found');
    expect(banner).toContain(`store      sqlite ${db}`);
    expect(banner).toContain('ledger     memory');
    expect(banner).toContain('keys       none configured: open access, loopback only');
    expect(banner).toContain('env        TOKENWARDEN_DB sets store');
    expect(banner).not.toContain('prices  ');

    const client = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello mock' }] },
      { headers: { 'x-thread-id': 'serve-1' } },
    );
    expect(res.choices[0]!.message.content).toBeTruthy();
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('mock');

    s.stop.abort();
    expect(await s.done).toBe(0);
    expect(s.err.join('')).toContain('stopped');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const store = new SqliteUsageStore({ path: db });
    try {
      expect(await store.count({ threadId: 'serve-1' })).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('uses a config file and requires keys when it has them', async () => {
    const file = join(dir, 'keys.yaml');
    await writeFile(
      file,
      `server: { port: 0 }
store: { sqlite: ./keys.db }
budgets: { default_max_tokens: 5000 }
prices:
  mock-*: { input: 1, output: 2 }
providers:
  backends:
    - { name: local-mock, provider: mock, models: [gpt-4o-mini, mock-large] }
keys:
  - { name: app, hash: "${hashGatewayKey('k-app')}", org: acme }
  - { name: ops, hash: "${hashGatewayKey('k-ops')}", admin: true }
`,
    );
    const s = serve(['--config', file], {});
    const started = await s.started;
    const url = (started as { url: string }).url;
    const banner = s.out.join('');
    expect(banner).toContain(`config     ${file}`);
    expect(banner).toContain('local-mock (mock): gpt-4o-mini, mock-large');
    expect(banner).toContain('2 configured (1 admin)');
    expect(banner).toContain('5000 tokens per thread');
    expect(banner).toContain('prices     1 from the config, over the catalog: mock-*\n');
    try {
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      const r = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k-app' } });
      const body = (await r.json()) as { data: Array<{ id: string }> };
      expect(body.data.map((m) => m.id)).toEqual(['gpt-4o-mini', 'mock-large']);
    } finally {
      s.stop.abort();
      expect(await s.done).toBe(0);
    }
  });

  it('does not start on a bad config and prints every problem with its path', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'budgets:\n  default_max_tokens: lots\nserver:\n  prot: 1\n');
    const s = serve(['--config', file], {});
    expect(await s.started).toEqual({ code: 1 });
    const err = s.err.join('');
    expect(err).toContain('invalid configuration, not starting');
    expect(err).toContain('budgets.default_max_tokens: must be an integer >= 1 (got "lots") (line 2)');
    expect(err).toContain('server.prot: unknown key (did you mean "port"?)');
  });

  it('refuses a non-loopback host without keys', async () => {
    const s = serve(['--host', '0.0.0.0', '--port', '0'], { TOKENWARDEN_DB: join(dir, 'x.db') });
    expect(await s.started).toEqual({ code: 1 });
    expect(s.err.join('')).toContain('refusing to listen on 0.0.0.0 without gateway keys');
  });

  it('rejects bad arguments with exit code 2', async () => {
    for (const argv of [['--port', 'http'], ['--bogus'], ['--config']]) {
      const s = serve(argv, {});
      expect(await s.started).toEqual({ code: 2 });
      expect(s.err.join('')).toContain('Usage: tokenwarden serve');
    }
  });

  it('rejects a short option with its value in the same word (-p8080, -c=x) as an unknown option', async () => {
    for (const word of ['-p8080', '-c=x', '-hp']) {
      const s = serve([word], {});
      expect(await s.started).toEqual({ code: 2 });
      expect(s.err.join('')).toContain(`unknown option ${JSON.stringify(word)}`);
    }
  });

  it('lists providers found from environment keys', async () => {
    const s = serve(['--port', '0'], { TOKENWARDEN_DB: join(dir, 'env.db'), OPENAI_API_KEY: 'sk-test', ANTHROPIC_API_KEY: 'sk-ant-test' });
    await s.started;
    const banner = s.out.join('');
    expect(banner).toContain('openai (openai): gpt-*');
    expect(banner).toContain('[key from OPENAI_API_KEY]');
    expect(banner).toContain('anthropic (anthropic): claude-*');
    expect(banner).not.toContain('sk-test');
    s.stop.abort();
    expect(await s.done).toBe(0);
  });
});
