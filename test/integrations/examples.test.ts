/**
 * The integration examples run offline (the mock provider behind tokenwarden's gateway on a local port)
 * against the BUILT package, imported by name as users do. `npm test` builds dist/ first.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const run = async (file: string): Promise<string> => (await promisify(execFile)(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 60_000 })).stdout;

describe('subpath exports', () => {
  it('tokenwarden/ai-sdk and tokenwarden/langchain load by name; ai-sdk loads nothing of `ai`', async () => {
    const source = `
      import { tokenwardenBudget, BudgetExhaustedError } from 'tokenwarden/ai-sdk';
      import { TokenwardenCallbackHandler } from 'tokenwarden/langchain';
      const m = tokenwardenBudget({ threadId: 't' });
      console.log(JSON.stringify({ spec: m.specificationVersion, handler: new TokenwardenCallbackHandler().name, err: typeof BudgetExhaustedError }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', source], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ spec: 'v3', handler: 'TokenwardenCallbackHandler', err: 'function' });
    const { readFile, readdir } = await import('node:fs/promises');
    const dir = new URL('dist/integrations/ai-sdk/', root);
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.js'))) {
      expect(await readFile(new URL(file, dir), 'utf8')).not.toMatch(/^import .* from ['"](ai|@ai-sdk\/[a-z-]+)['"]/m);
    }
  });
});

describe('examples', () => {
  it('examples/ai-sdk.js: streamed and plain calls metered, the call the thread cannot afford refused', async () => {
    const out = await run('examples/ai-sdk.js');
    expect(out).toContain('tea (streamed): ');
    expect(out).toMatch(/usage event: writer gpt-4o-mini \d+\+\d+ tokens/);
    expect(out).toContain('refused before reaching the provider: Thread "demo" budget exhausted');
    expect(out).toContain('reservedTokens: 0');
  }, 60_000);

  it('examples/langchain.js: an agent loop on one thread until the budget refuses the next step', async () => {
    const out = await run('examples/langchain.js');
    expect(out).toMatch(/step 2: /);
    expect(out).toMatch(/usage event: researcher on research-7: \d+\+\d+ tokens/);
    expect(out).toContain('refused before reaching the provider: Thread "research-7" budget exhausted');
    expect(out).toContain('reservedTokens: 0');
  }, 60_000);
});
