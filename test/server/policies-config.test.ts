/**
 * `budgets.policies`, `alerts` and `alerts_outbox` in tokenwarden.yaml (issue 14): what a good file
 * becomes, every problem of a bad one with its path and line, and that `serve` does not start on one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { runServeCommand } from '../../src/cli/serve.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { InvalidConfigError } from '../../src/server/config-problems.js';
import { loadConfig } from '../../src/server/load-config.js';
import { validateConfig } from '../../src/server/validate-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-policies-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeYaml(yaml: string): Promise<string> {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  return file;
}

/** The problems `loadConfig` reports for `yaml`, as `path: problem (line N)` strings. */
async function problemsOf(yaml: string): Promise<string[]> {
  const err = await loadConfig({ file: await writeYaml(yaml), env: {} }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidConfigError);
  return (err as InvalidConfigError).problems.map((p) => `${p.path}: ${p.problem} (line ${p.line})`);
}

describe('config: budgets.policies', () => {
  it('reads the issue\'s example into BudgetPolicy objects', async () => {
    const config = await loadConfig({
      file: await writeYaml(`budgets:
  default_max_tokens: 100000
  policies:
    - { name: user-daily,   scope: user, max_usd: 5, window: 1d }
    - { name: acme-monthly, scope: org, match: { org: acme }, max_usd: 500, max_tokens: 50000000, window: 1mo }
    - { name: key-rate,     scope: key, rpm: 60, tpm: 100000 }
    - { name: agent-cap,    scope: agent, max_tokens: 200000 }
    - { name: gpt4o,        scope: global, match: { model: "gpt-4o*" }, max_usd: 0.25, unpriced: allow, thresholds: [50, 80] }
`),
      env: {},
    });
    expect(config.budgets.defaultMaxTokens).toBe(100_000);
    expect(config.budgets.policies).toEqual([
      { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
      { name: 'acme-monthly', scope: 'org', match: { org: 'acme' }, maxUsd: 500, maxTokens: 50_000_000, window: '1mo' },
      { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 },
      { name: 'agent-cap', scope: 'agent', maxTokens: 200_000 },
      { name: 'gpt4o', scope: 'global', match: { model: 'gpt-4o*' }, maxUsd: 0.25, unpriced: 'allow', thresholds: [50, 80] },
    ]);
    // What the config accepts, the library takes as it is.
    const guard = new BudgetPolicies({ policies: config.budgets.policies, ledger: new MemoryPolicyLedger(), prices: new PriceTable() });
    expect(guard.policies.map((p) => p.name)).toEqual(['user-daily', 'acme-monthly', 'key-rate', 'agent-cap', 'gpt4o']);
  });

  it('has no policies, alerts or outbox setting without the sections', () => {
    const r = validateConfig({ store: { sqlite: '/srv/tw/usage.db' } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.budgets.policies).toEqual([]);
    expect(r.config.alerts).toEqual([]);
    expect(r.config.alertsOutbox).toBe('/srv/tw/alerts-outbox.jsonl');
  });

  it('reports every bad policy with its path and line', async () => {
    const problems = await problemsOf(`budgets:
  policies:
    - name: user-daily
      scope: user
      max_usd: 5
      window: 1d
    - name: bad-usd
      scope: org
      max_usd: -1
    - name: user-daily
      scope: key
      rpm: 60
    - name: matcher
      scope: org
      match: { global: x, user: "u-*", model: "gpt*4" }
      max_tokens: 10
    - name: nolimit
      scope: user
    - name: rate-only
      scope: key
      rpm: 5
      window: 1d
      unpriced: allow
      thresholds: [50]
    - name: x
      scope: planet
      max_tokens: 1.5
      window: 3y
      thresholds: [90, 50]
      colour: red
    - { name: "bad name!", scope: user, max_usd: 1, rpm: 0, tpm: many }
    - { name: dust, scope: user, max_usd: 0.0000000001 }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'budgets.policies[1].max_usd: must be a positive number of USD, at most 9007199 (counted in nano-USD) (got -1) (line 9)',
        'budgets.policies[2].name: duplicates budgets.policies[0].name ("user-daily") (line 10)',
        'budgets.policies[3].match.global: unknown key; allowed: thread, user, org, key, agent, model (line 15)',
        'budgets.policies[3].match.user: a "*" prefix is only allowed for model: the usage store rebuilding spend after a restart can filter models by prefix, not users (got "u-*") (line 15)',
        'budgets.policies[3].match.model: "*" may only end the value, as a prefix like "gpt-4o*" (got "gpt*4") (line 15)',
        'budgets.policies[4]: sets no limit: give at least one of max_usd, max_tokens, rpm, tpm (line 17)',
        'budgets.policies[5].window: only applies to max_usd and max_tokens (rpm and tpm count per UTC minute) (line 22)',
        'budgets.policies[5].unpriced: only applies to a policy with max_usd (it says what to do with a model that has no price) (line 23)',
        'budgets.policies[5].thresholds: only applies to max_usd and max_tokens (alerts are not raised for rpm and tpm) (line 24)',
        'budgets.policies[6].colour: unknown key; allowed: name, scope, match, max_usd, max_tokens, rpm, tpm, window, unpriced, thresholds (line 30)',
        'budgets.policies[6].scope: must be one of thread, user, org, key, agent, model, global (got "planet") (line 26)',
        'budgets.policies[6].max_tokens: must be an integer >= 1 (got 1.5) (line 27)',
        'budgets.policies[6].window: must be a window like 30s, 15m, 1h, 1d, 1w or 1mo (a whole number from 1, then s, m, h, d, w or mo) (got "3y") (line 28)',
        'budgets.policies[6].thresholds[1]: thresholds must be listed in increasing order, each once (got 90 then 50) (line 29)',
        'budgets.policies[7].name: must be a name of letters, digits, ".", "_", "-" (at most 64) (got "bad name!") (line 31)',
        'budgets.policies[7].rpm: must be an integer >= 1 (got 0) (line 31)',
        'budgets.policies[7].tpm: must be an integer >= 1 (got "many") (line 31)',
        'budgets.policies[8].max_usd: must be at least 0.000000001 (one nano-USD, the unit spend is counted in) (got 1e-10) (line 32)',
      ]),
    );
    expect(problems).toHaveLength(18);
  });

  it('refuses a list that is not one, and a policy that is not a mapping', async () => {
    expect(await problemsOf('budgets:\n  policies: { name: a }\n')).toEqual([
      'budgets.policies: must be a list of { name, scope, match, max_usd, max_tokens, rpm, tpm, window, unpriced, thresholds } (got a mapping) (line 2)',
    ]);
    expect(await problemsOf('budgets:\n  policies:\n    -\n    - { name: ok, scope: user, max_usd: 1 }\n')).toEqual([
      'budgets.policies[0]: must be a mapping { name, scope, match, max_usd, max_tokens, rpm, tpm, window, unpriced, thresholds } (got null) (line 3)',
    ]);
  });

  it('keeps the rest of budgets working beside a bad policy (both reported)', async () => {
    const problems = await problemsOf('budgets:\n  default_max_tokens: lots\n  policies:\n    - { name: a, scope: user, max_usd: 0 }\n');
    expect(problems).toEqual([
      'budgets.default_max_tokens: must be an integer >= 1 (got "lots") (line 2)',
      'budgets.policies[0].max_usd: must be a positive number of USD, at most 9007199 (counted in nano-USD) (got 0) (line 4)',
    ]);
  });
});

describe('config: alerts', () => {
  it('reads webhooks (events default to both) and resolves the outbox path', async () => {
    const file = await writeYaml(`store: { sqlite: data/usage.db }
alerts:
  - { url: "https://hooks.example.com/budget", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", events: [threshold] }
  - { url: "http://127.0.0.1:9000/h", secret: plain-secret }
`);
    const config = await loadConfig({ file, env: {} });
    expect(config.alerts).toEqual([
      { url: 'https://hooks.example.com/budget', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: ['threshold'] },
      { url: 'http://127.0.0.1:9000/h', secret: 'plain-secret', events: ['threshold', 'exhausted'] },
    ]);
    expect(config.alertsOutbox).toBe(join(dir, 'data', 'alerts-outbox.jsonl'));
    const chosen = await loadConfig({ file: await writeYaml('alerts_outbox: state/outbox.jsonl\n'), env: {} });
    expect(chosen.alertsOutbox).toBe(join(dir, 'state', 'outbox.jsonl'));
  });

  it('puts the outbox beside a PostgreSQL spool, else in .tokenwarden/ of the working directory', () => {
    const spooled = validateConfig({ store: { postgres: 'postgres://db/tw', spool: '/var/tw/spool.jsonl' } }, { baseDir: '/etc' });
    expect(spooled.ok && spooled.config.alertsOutbox).toBe('/var/tw/alerts-outbox.jsonl');
    const bare = validateConfig({ store: { postgres: 'postgres://db/tw' } });
    expect(bare.ok && bare.config.alertsOutbox).toBe(join(process.cwd(), '.tokenwarden', 'alerts-outbox.jsonl'));
  });

  it('reports every bad webhook with its path and line, never echoing a secret', async () => {
    const problems = await problemsOf(`alerts:
  - url: ftp://x
    secret: ""
  - url: https://a.example/h
    secret: whsec_!!not-base64!!
    events: [threshold, boom]
  - url: https://a.example/h
    secret: s
    events: []
  - { url: https://b.example/h, events: [exhausted, exhausted], colour: red }
  - { url: https://c.example/h, secret: whsec_c2hvcnQ= }
alerts_outbox: ""
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'alerts[0].url: must be an http:// or https:// URL (got "ftp://x") (line 2)',
        'alerts[0].secret: must be a non-empty string (got an empty one) (line 3)',
        'alerts[1].secret: a secret starting with "whsec_" must continue with the key in base64 (Standard Webhooks); the value given is not valid base64 (line 5)',
        'alerts[1].events[1]: must be threshold or exhausted (got "boom") (line 6)',
        'alerts[2].url: duplicates alerts[1].url: merge their events into one entry (line 7)',
        'alerts[2].events: must name at least one of threshold, exhausted (leave it out for both) (line 9)',
        'alerts[3].colour: unknown key; allowed: url, secret, events (line 10)',
        'alerts[3].secret: must be a non-empty string (got nothing) (line 10)',
        'alerts[3].events[1]: lists exhausted twice (line 10)',
        'alerts[4].secret: a "whsec_" secret must hold a key of at least 24 bytes (got 5) (line 11)',
        'alerts_outbox: must be a non-empty string (got "") (line 12)',
      ]),
    );
    expect(problems).toHaveLength(11);
    expect(problems.join('\n')).not.toContain('not-base64');
  });
});

describe('serve with a bad policy config', () => {
  it('does not start, and prints every problem with its path and line', async () => {
    const file = await writeYaml('budgets:\n  policies:\n    - { name: p, scope: user, max_usd: -5 }\n    - { name: p, scope: org }\n');
    let err = '';
    let listening = false;
    const code = await runServeCommand(['--config', file, '--port', '0'], { stdout: () => undefined, stderr: (s) => (err += s) }, {
      env: {},
      handleSignals: false,
      onListening: () => (listening = true),
    });
    expect(code).toBe(1);
    expect(listening).toBe(false);
    expect(err).toContain('invalid configuration, not starting');
    expect(err).toContain('budgets.policies[0].max_usd: must be a positive number of USD, at most 9007199 (counted in nano-USD) (got -5) (line 3)');
    expect(err).toContain('budgets.policies[1].name: duplicates budgets.policies[0].name ("p") (line 4)');
    expect(err).toContain('budgets.policies[1]: sets no limit: give at least one of max_usd, max_tokens, rpm, tpm (line 4)');
  });
});

/** Runs `serve --config file` until `stop` is aborted; resolves once it listens, with its URL and banner. */
async function serveConfig(file: string, stop: AbortController): Promise<{ url: string; banner: string; done: Promise<number> }> {
  let url = '';
  let banner = '';
  let listening: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (listening = resolve));
  const done = runServeCommand(['--config', file, '--port', '0'], { stdout: (t) => (banner += t), stderr: () => undefined }, {
    env: {},
    signal: stop.signal,
    handleSignals: false,
    onListening: (info) => {
      url = info.url;
      listening();
    },
  });
  await Promise.race([started, done]);
  expect(url).not.toBe('');
  return { url, banner, done };
}

describe('serve with policies', () => {
  it('restores a budget\'s spend from the usage store after a restart', async () => {
    const file = await writeYaml(`store: { sqlite: ${join(dir, 'restore.db')} }
budgets:
  policies:
    - { name: user-daily, scope: user, max_usd: 5, max_tokens: 100000, window: 1d }
`);
    const standing = async (url: string) => (await (await fetch(`${url}/v1/budgets/user-daily/u-1`)).json()) as Record<string, unknown>;
    const first = new AbortController();
    const a = await serveConfig(file, first);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user-id': 'u-1' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
      });
      expect(res.status).toBe(200);
    }
    const before = await standing(a.url);
    expect(before.used_tokens).toBeGreaterThan(0);
    expect(before.spent_usd).toBeGreaterThan(0);
    first.abort();
    expect(await a.done).toBe(0);
    const second = new AbortController();
    const b = await serveConfig(file, second);
    try {
      const after = await standing(b.url);
      expect({ spent_usd: after.spent_usd, used_tokens: after.used_tokens }).toEqual({ spent_usd: before.spent_usd, used_tokens: before.used_tokens });
    } finally {
      second.abort();
      expect(await b.done).toBe(0);
    }
  });

  it('enforces and serves the configured policies (rate limit refused with Retry-After, /v1/budgets lists them)', async () => {
    const file = await writeYaml(`store: { sqlite: ${join(dir, 'serve.db')} }
budgets:
  policies:
    - { name: everyone-rate, scope: global, rpm: 1 }
    - { name: user-daily, scope: user, max_usd: 5, window: 1d }
`);
    const stop = new AbortController();
    const { url, banner, done } = await serveConfig(file, stop);
    expect(banner).toContain('  policies   2: everyone-rate, user-daily (GET /v1/budgets)');
    try {
      while (Date.now() % 60_000 > 58_000) await new Promise((r) => setTimeout(r, 100));
      const ask = () =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-user-id': 'u-1' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
        });
      const ok = await ask();
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-budget-policy')).toBe('user-daily');
      expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('1');
      expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      const refused = await ask();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
      const budgets = (await (await fetch(`${url}/v1/budgets`)).json()) as { policies: Array<{ name: string }> };
      expect(budgets.policies.map((p) => p.name)).toEqual(['everyone-rate', 'user-daily']);
    } finally {
      stop.abort();
      expect(await done).toBe(0);
    }
  });
});
