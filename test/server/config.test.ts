import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../../src/server/config-problems.js';
import { loadConfig } from '../../src/server/load-config.js';
import { validateConfig } from '../../src/server/validate-config.js';
import { parseRouterConfig } from '../../src/server/router-config.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function yamlFile(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function problemsOf(promise: Promise<unknown>): Promise<InvalidConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidConfigError);
  return err as InvalidConfigError;
}

const checkProviders = (env: Record<string, string>) => (p: Record<string, unknown>) => void parseRouterConfig(p, { env });

describe('loadConfig', () => {
  it('uses defaults when there is no file and no environment', async () => {
    const config = await loadConfig({ env: {}, cwd: dir });
    expect(config.file).toBeUndefined();
    expect(config.server).toEqual({
      host: '127.0.0.1',
      port: 4000,
      bodyLimit: 4 * 1024 * 1024,
      shutdownTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      corsOrigins: [],
    });
    expect(config.budgets.defaultMaxTokens).toBe(100_000);
    expect(config.budgets.thresholds.map((t) => t.percent)).toEqual([75, 90, 95]);
    expect(config.budgets.requireThread).toBe(false);
    expect(config.store).toEqual({ kind: 'sqlite', path: join(process.cwd(), '.tokenwarden/usage.db') });
    expect(config.ledger).toEqual({ kind: 'memory' });
    expect(config.keys).toEqual([]);
    expect(config.providers).toBeUndefined();
  });

  it('reads every section of a full file', async () => {
    const hash = hashGatewayKey('secret-1');
    const file = await yamlFile(
      'full.yaml',
      `server:
  host: 127.0.0.2
  port: 8123
  body_limit: 512kb
  shutdown_timeout_ms: 5000
  headers_timeout_ms: 5000
  request_timeout_ms: 20000
  cors_origins: [http://localhost:5173, HTTPS://App.Example.com]
providers:
  strategy: failover
  backends:
    - provider: mock
      models: [gpt-4o-mini]
budgets:
  default_max_tokens: 50000
  thresholds:
    - { percent: 50, severity: warning }
    - { percent: 99, severity: final }
  require_thread: true
  max_threads_per_org: 500
  max_threads: 20000
  thread_idle_ttl: 30m
store:
  sqlite: ./data/usage.db
ledger:
  url: redis://127.0.0.1:6379/2
  fail_open: true
  key_prefix: "tw-test:"
keys:
  - name: acme-app
    hash: ${hash}
    org: acme
  - name: ops
    hash: sha256:${'A'.repeat(64)}
    admin: true
`,
    );
    const config = await loadConfig({ file, env: {}, checkProviders: checkProviders({}) });
    expect(config.file).toBe(file);
    expect(config.server).toEqual({
      host: '127.0.0.2',
      port: 8123,
      bodyLimit: 512 * 1024,
      shutdownTimeoutMs: 5000,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 20_000,
      corsOrigins: ['http://localhost:5173', 'https://app.example.com'],
    });
    expect(config.providers).toEqual({ strategy: 'failover', backends: [{ provider: 'mock', models: ['gpt-4o-mini'] }] });
    expect(config.budgets).toEqual({
      defaultMaxTokens: 50_000,
      thresholds: [
        { percent: 50, severity: 'warning' },
        { percent: 99, severity: 'final' },
      ],
      requireThread: true,
      maxThreadsPerOrg: 500,
      maxThreads: 20_000,
      threadIdleTtlMs: 30 * 60_000,
      policies: [],
    });
    // Relative SQLite paths are relative to the file's directory.
    expect(config.store).toEqual({ kind: 'sqlite', path: join(dir, 'data/usage.db') });
    expect(config.ledger).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379/2', failOpen: true, keyPrefix: 'tw-test:' });
    expect(config.keys).toEqual([
      { name: 'acme-app', sha256: hash.slice(7), org: 'acme', admin: false },
      { name: 'ops', sha256: 'a'.repeat(64), org: null, admin: true },
    ]);
  });

  it('reports every problem with its path, the bad value and the line', async () => {
    const file = await yamlFile(
      'bad.yaml',
      `server:
  port: 99999
  hots: 0.0.0.0
budgets:
  default_max_tokens: lots
  thresholds:
    - { percent: 120, severity: warning }
store:
  sqlite: a.db
  postgres: postgres://x/y
ledger: memcached
keys:
  - name: k1
    hash: abc
extra: 1
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {} }));
    const lines = err.problems.map((p) => `${p.path}|${p.line ?? '-'}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        'server.port|2',
        'server.hots|3',
        'budgets.default_max_tokens|5',
        'budgets.thresholds[0].percent|7',
        'store|9',
        'ledger|11',
        'keys[0].hash|14',
        'keys[0].org|13',
        'extra|15',
      ]),
    );
    expect(err.message).toContain('budgets.default_max_tokens: must be an integer >= 1 (got "lots") (line 5)');
    expect(err.message).toContain('server.port: must be an integer from 0 to 65535 (got 99999)');
    expect(err.message).toContain('server.hots: unknown key (did you mean "host"?)');
    const ttl = await problemsOf(loadConfig({ file: await yamlFile('ttl.yaml', 'budgets: { thread_idle_ttl: 86400, max_threads_per_org: 0 }\n'), env: {} }));
    expect(ttl.message).toContain('budgets.thread_idle_ttl: must be a duration from 1s to 365d with its unit, like "24h", "30m" or "90s" (got 86400)');
    expect(ttl.message).toContain('budgets.max_threads_per_org: must be an integer >= 1 (got 0)');
    const caps = await problemsOf(loadConfig({ file: await yamlFile('caps.yaml', 'budgets: { max_threads_per_org: 5000, max_threads: 1000 }\n'), env: {} }));
    expect(caps.message).toContain('budgets.max_threads_per_org: must not exceed budgets.max_threads (1000) (got 5000)');
    expect(err.message).toContain('ledger: must be "memory" or a redis:// URL (got "memcached")');
    expect(err.message).toContain('extra: unknown key');
    expect(err.message).toMatch(/^.*bad\.yaml has \d+ problems:/);
  });

  it('reports provider problems under providers.* with the line of the bad value', async () => {
    const file = await yamlFile(
      'providers.yaml',
      `providers:
  backends:
    - provider: mock
    - provider: opena1
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {}, checkProviders: checkProviders({}) }));
    expect(err.problems[0]).toMatchObject({ path: 'providers.backends[1].provider', line: 4 });
    expect(err.message).toContain('providers.backends[1].provider: unknown provider "opena1"');
  });

  it('reports a provider key variable that is not set', async () => {
    const file = await yamlFile(
      'keyless.yaml',
      `providers:
  backends:
    - provider: openai
      api_key_env: MY_OPENAI_KEY
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {}, checkProviders: checkProviders({}) }));
    expect(err.message).toContain('providers.backends[0].api_key_env: environment variable MY_OPENAI_KEY is not set');
    const ok = await loadConfig({ file, env: { MY_OPENAI_KEY: 'sk-test' }, checkProviders: checkProviders({ MY_OPENAI_KEY: 'sk-test' }) });
    expect(ok.providers).toBeDefined();
  });

  it('reports invalid YAML with its line', async () => {
    const file = await yamlFile('broken.yaml', 'server:\n  port: 1\n   host: [\n');
    const err = await problemsOf(loadConfig({ file, env: {} }));
    expect(err.message).toMatch(/invalid YAML/);
    expect(err.problems[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('fails on an explicit file that does not exist, naming it', async () => {
    const err = await problemsOf(loadConfig({ file: join(dir, 'nope.yaml'), env: {} }));
    expect(err.message).toContain('nope.yaml');
    expect(err.message).toContain('file not found');
  });

  it('picks up tokenwarden.yaml from the working directory and TOKENWARDEN_CONFIG', async () => {
    const sub = await mkdtemp(join(dir, 'cwd-'));
    await writeFile(join(sub, 'tokenwarden.yaml'), 'server:\n  port: 4555\n');
    expect((await loadConfig({ env: {}, cwd: sub })).server.port).toBe(4555);
    const other = await yamlFile('via-env.yaml', 'server:\n  port: 4556\n');
    expect((await loadConfig({ env: { TOKENWARDEN_CONFIG: other }, cwd: sub })).server.port).toBe(4556);
  });

  it('reports bad server timeouts and origins with their path and line', async () => {
    const file = await yamlFile(
      'server-bad.yaml',
      `server:
  headers_timeout_ms: 50
  request_timeout_ms: 2h
  cors_origins:
    - https://ok.example
    - "*"
    - https://app.example.com/path
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {} }));
    expect(err.problems.map((p) => `${p.path}|${p.line ?? '-'}`)).toEqual([
      'server.cors_origins[1]|6',
      'server.cors_origins[2]|7',
      'server.headers_timeout_ms|2',
      'server.request_timeout_ms|3',
    ]);
    expect(err.message).toContain('server.headers_timeout_ms: must be an integer from 1000 to 3600000 (got 50) (line 2)');
    expect(err.message).toContain('server.cors_origins[1]: must be an origin such as https://app.example.com');
    const crossed = await problemsOf(loadConfig({ file: await yamlFile('crossed.yaml', 'server: { headers_timeout_ms: 20000, request_timeout_ms: 10000 }\n'), env: {} }));
    expect(crossed.message).toContain('server.headers_timeout_ms: must not exceed server.request_timeout_ms (10000); got 20000 (line 1)');
    // Raising only the headers timeout raises the request timeout with it.
    const raised = validateConfig({ server: { headers_timeout_ms: 45_000 } }, { env: {} });
    expect(raised.ok && raised.config.server).toMatchObject({ headersTimeoutMs: 45_000, requestTimeoutMs: 45_000 });
  });

  it('rejects key entries with bad hashes, missing orgs and duplicates', async () => {
    const h = hashGatewayKey('same');
    const file = await yamlFile(
      'keys.yaml',
      `keys:
  - { name: a, hash: "${h}", org: acme }
  - { name: a, hash: "${h}", org: beta }
  - { name: "bad name!", hash: "sha256:zz", org: acme }
  - { name: c, hash: "${hashGatewayKey('c')}", org: acme, admin: "yes" }
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {} }));
    const paths = err.problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['keys[1].name', 'keys[1].hash', 'keys[2].name', 'keys[2].hash', 'keys[3].admin']));
    expect(err.message).toContain('keys[1].hash: duplicates keys[0].hash');
    expect(err.message).toContain('printf %s "$KEY" | sha256sum');
  });
});

describe('environment overrides', () => {
  it('overrides host, port, body limit and the default budget', () => {
    const r = validateConfig(
      { server: { port: 1, host: '127.0.0.1' } },
      { env: { TOKENWARDEN_PORT: '4100', TOKENWARDEN_HOST: '::1', TOKENWARDEN_BODY_LIMIT: '2mb', TOKENWARDEN_DEFAULT_MAX_TOKENS: '777' } },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.server).toMatchObject({ port: 4100, host: '::1', bodyLimit: 2 * 1024 * 1024 });
    expect(r.config.budgets.defaultMaxTokens).toBe(777);
    expect(Object.keys(r.config.envOverrides).sort()).toEqual([
      'TOKENWARDEN_BODY_LIMIT',
      'TOKENWARDEN_DEFAULT_MAX_TOKENS',
      'TOKENWARDEN_HOST',
      'TOKENWARDEN_PORT',
    ]);
  });

  it('overrides the server timeouts and the CORS origins', () => {
    const env = { TOKENWARDEN_HEADERS_TIMEOUT_MS: '2000', TOKENWARDEN_REQUEST_TIMEOUT_MS: '4000', TOKENWARDEN_CORS_ORIGINS: 'http://localhost:3000, https://a.example' };
    const r = validateConfig({ server: { cors_origins: ['https://b.example'] } }, { env });
    expect(r.ok && r.config.server).toMatchObject({ headersTimeoutMs: 2000, requestTimeoutMs: 4000, corsOrigins: ['http://localhost:3000', 'https://a.example'] });
    expect(r.ok && Object.keys(r.config.envOverrides).sort()).toEqual(['TOKENWARDEN_CORS_ORIGINS', 'TOKENWARDEN_HEADERS_TIMEOUT_MS', 'TOKENWARDEN_REQUEST_TIMEOUT_MS']);
    const bad = validateConfig({}, { env: { TOKENWARDEN_HEADERS_TIMEOUT_MS: 'soon', TOKENWARDEN_CORS_ORIGINS: 'https://ok.example,*' } });
    expect(!bad.ok && bad.problems.map((p) => p.path)).toEqual(['environment TOKENWARDEN_HEADERS_TIMEOUT_MS', 'environment TOKENWARDEN_CORS_ORIGINS']);
  });

  it('names a bad environment value', () => {
    const r = validateConfig({}, { env: { TOKENWARDEN_PORT: 'eighty', TOKENWARDEN_LEDGER: 'mongo://x' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => `${p.path}: ${p.problem}`)).toEqual([
      'environment TOKENWARDEN_PORT: must be an integer from 0 to 65535 (got "eighty")',
      'environment TOKENWARDEN_LEDGER: must be "memory" or a redis:// URL (got "mongo://x")',
    ]);
  });

  it('TOKENWARDEN_DB and TOKENWARDEN_LEDGER override the file; DATABASE_URL and REDIS_URL are ignored', () => {
    const file = { store: { sqlite: '/tmp/a.db' }, ledger: 'memory' };
    const env = { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:1' };
    const filled = validateConfig(file, { env });
    expect(filled.ok && filled.config.store).toEqual({ kind: 'sqlite', path: '/tmp/a.db' });
    expect(filled.ok && filled.config.ledger).toEqual({ kind: 'memory' });

    const empty = validateConfig({}, { env });
    expect(empty.ok && empty.config.store).toMatchObject({ kind: 'sqlite' });
    expect(empty.ok && empty.config.ledger).toEqual({ kind: 'memory' });

    const forced = validateConfig(file, { env: { TOKENWARDEN_DB: 'postgresql://x/y', TOKENWARDEN_LEDGER: 'redis://r:2' } });
    expect(forced.ok && forced.config.store).toEqual({ kind: 'postgres', url: 'postgresql://x/y' });
    expect(forced.ok && forced.config.ledger).toEqual({ kind: 'redis', url: 'redis://r:2', failOpen: false });
  });

  it('rejects options that only apply to another backend', () => {
    const r = validateConfig({ ledger: { url: 'memory', fail_open: true }, store: { sqlite: 'a.db', table: 't' } }, { env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path).sort()).toEqual(['ledger.fail_open', 'store.table']);
  });
});

describe('the providers section', () => {
  it('is checked by the router schema without a checkProviders hook, every problem with its line', async () => {
    const file = await yamlFile(
      'providers-all.yaml',
      `providers:
  strategy: fastest
  backends:
    - provider: mock
      rate_limit: 5
    - provider: opena1
`,
    );
    const err = await problemsOf(loadConfig({ file, env: {} }));
    expect(err.problems.map((p) => `${p.path}|${p.line ?? '-'}`)).toEqual([
      'providers.backends[0].rate_limit|5',
      'providers.strategy|2',
      'providers.backends[1].provider|6',
    ]);
    expect(err.message).toContain('providers.strategy: unknown strategy "fastest" (expected one of failover, round-robin, least-loaded) (line 2)');
  });
});
