// Imports the BUILT package by its name, as users do (Node resolves a package's own name through its
// "exports" map), in a separate Node process. `npm test` builds dist/ first.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);

function runModule(source: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', source], {
    cwd: root,
    encoding: 'utf8',
  });
}

describe('the built package', () => {
  it('has been built (run `npm run build`)', () => {
    expect(existsSync(new URL('dist/index.js', root))).toBe(true);
    expect(existsSync(new URL('dist/index.d.ts', root))).toBe(true);
  });

  it("exports the seed's names from the package root", () => {
    const out = runModule(`
      import * as tw from 'tokenwarden';
      const names = ['ThreadBudget','ThreadBudgetRegistry','BudgetExhaustedError','getBudgetRegistry',
        'configureBudgetRegistry','resetBudgetRegistry','UsageTracker','getUsageTracker','resetUsageTracker',
        'estimateCost','LLMRouter'];
      console.log(JSON.stringify(names.filter((n) => typeof tw[n] !== 'function')));
    `);
    expect(JSON.parse(out)).toEqual([]);
  });

  it('works end to end: budget, refused call, usage totals', () => {
    const out = runModule(`
      import { ThreadBudgetRegistry, UsageTracker, BudgetExhaustedError, estimateCost } from 'tokenwarden';
      const reg = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
      const hold = reg.reserve('t', 800);
      let refused = false;
      try { reg.reserve('t', 300); } catch (e) { refused = e instanceof BudgetExhaustedError && e.code === 'BUDGET_EXHAUSTED'; }
      reg.settle(hold, { promptTokens: 500, completionTokens: 100 });
      const tracker = new UsageTracker();
      tracker.record({ threadId: 't', agentId: 'a', model: 'gpt-4o', provider: 'openai', promptTokens: 1e6, completionTokens: 1e6, latencyMs: 1 });
      console.log(JSON.stringify({ refused, usage: reg.getUsage('t'), cost: tracker.getTotals().totalCost, est: estimateCost('gpt-4o', { promptTokens: 1e6, completionTokens: 1e6 }) }));
    `);
    const result = JSON.parse(out);
    expect(result.refused).toBe(true);
    expect(result.usage).toMatchObject({ totalTokens: 600, remaining: 400, reservedTokens: 0 });
    expect(result.cost).toBe(12.5);
    expect(result.est).toBe(12.5);
  });

  it('imports every subpath export of package.json by name', () => {
    const expected: Record<string, string[]> = {
      '.': ['LLMRouter', 'MemoryBudgetLedger', 'UsageTracker', 'MessagePump', 'parseRouterConfig'],
      './sqlite': ['SqliteUsageStore'],
      './postgres': ['PostgresUsageStore'],
      './redis': ['RedisBudgetLedger'],
      './gateway': ['createGateway', 'KeyRing', 'GatewayMetrics'],
      './server': ['loadConfig', 'validateConfig', 'buildRuntime', 'InvalidConfigError'],
      './ai-sdk': ['tokenwardenBudget', 'BudgetExhaustedError'],
      './langchain': ['TokenwardenCallbackHandler', 'BudgetExhaustedError'],
    };
    const out = runModule(`
      import { readFileSync } from 'node:fs';
      const { exports } = JSON.parse(readFileSync('package.json', 'utf8'));
      const result = {};
      for (const sub of Object.keys(exports).filter((s) => s !== './package.json')) {
        const mod = await import(sub === '.' ? 'tokenwarden' : 'tokenwarden/' + sub.slice(2));
        result[sub] = Object.keys(mod).sort();
      }
      console.log(JSON.stringify(result));
    `);
    const got = JSON.parse(out) as Record<string, string[]>;
    expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
    for (const [sub, names] of Object.entries(expected)) expect(got[sub], sub).toEqual(expect.arrayContaining(names));
  });

  it('keeps optional backends off the root entry point', () => {
    const out = runModule(`
      await import('tokenwarden');
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.filter((p) => /ioredis|better-sqlite3|[\\\\/]pg[\\\\/]/.test(p))));
    `);
    expect(JSON.parse(out)).toEqual([]);
  });

  it('stores events through tokenwarden/sqlite, on its writer thread too, and exits by itself', () => {
    const out = runModule(`
      import { mkdtempSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { UsageTracker } from 'tokenwarden';
      import { SqliteUsageStore } from 'tokenwarden/sqlite';
      const dir = mkdtempSync(join(tmpdir(), 'tw-pkg-'));
      const store = new SqliteUsageStore({ path: join(dir, 'u.db'), writer: 'thread' });
      const tracker = new UsageTracker();
      const input = { threadId: 't', agentId: 'a', model: 'gpt-4o', provider: 'openai', promptTokens: 10, completionTokens: 5, latencyMs: 1 };
      await Promise.all([store.append(tracker.record(input)), store.append([tracker.record(input), tracker.record(input)])]);
      const summary = await store.summary();
      await store.close();
      rmSync(dir, { recursive: true });
      console.log(JSON.stringify({ writer: store.writer, requests: summary.totals.requestCount, tokens: summary.totals.totalTokens }));
    `);
    expect(JSON.parse(out)).toEqual({ writer: 'thread', requests: 3, tokens: 45 });
  });

  it('runs the quick-start example: a refused call and usage totals', () => {
    const out = execFileSync(process.execPath, ['examples/quickstart.js'], { cwd: root, encoding: 'utf8' });
    expect(out).toContain('refused before reaching the provider');
    expect(out).toMatch(/warning: thread demo at \d/);
    expect(out).toContain('reservedTokens: 0');
  });
});
