import { afterEach, describe, expect, it } from 'vitest';
import { runPricesCommand } from '../../src/cli/prices.js';
import { configurePrices, resetPrices } from '../../src/pricing/global-prices.js';
import { PriceTable } from '../../src/pricing/price-table.js';

async function run(argv: string[], table?: PriceTable) {
  let stdout = '';
  let stderr = '';
  const code = await runPricesCommand(
    argv,
    { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) },
    table ? { table } : {},
  );
  return { code, stdout, stderr };
}

describe('tokenwarden prices', () => {
  afterEach(() => resetPrices());

  it('shows a catalog price with its source, matched key and cache rates', async () => {
    const { code, stdout, stderr } = await run(['claude-opus-4']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain('claude-opus-4: USD per 1M tokens');
    expect(stdout).toMatch(/source\s+catalog \(@pydantic\/genai-prices.*matched "claude-opus-4-0", provider anthropic/);
    expect(stdout).toMatch(/input\s+\$15\.00\n/);
    expect(stdout).toMatch(/output\s+\$75\.00\n/);
    expect(stdout).toMatch(/cached input\s+\$1\.50\n/);
    expect(stdout).toMatch(/cache write\s+\$18\.75\n/);
  });

  it('shows a built-in price', async () => {
    const { code, stdout } = await run(['grok-4.1']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/source\s+built-in table, matched "grok-4.1"/);
    expect(stdout).toMatch(/input\s+\$3\.00\n\s+output\s+\$15\.00/);
  });

  it('shows an override from the global table, with sub-cent prices', async () => {
    configurePrices({ overrides: { 'house-': { inputPerMTok: 0.075, outputPerMTok: 0.3 } } });
    const { code, stdout } = await run(['house-model']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/source\s+user override, matched "house-"/);
    expect(stdout).toMatch(/input\s+\$0\.075\n/);
    expect(stdout).toMatch(/output\s+\$0\.30\n/);
    expect(stdout).not.toContain('cached input');
  });

  it('shows long-prompt tiers', async () => {
    const { stdout } = await run(['gemini-2.5-pro']);
    expect(stdout).toMatch(/above 200,000 prompt tokens:\n\s+input\s+\$2\.50\n\s+output\s+\$15\.00/);
  });

  it('prints JSON with --json (flag before or after the model)', async () => {
    for (const argv of [['gpt-4o', '--json'], ['--json', 'gpt-4o']]) {
      const { code, stdout } = await run(argv);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual({
        model: 'gpt-4o',
        source: 'catalog',
        matched: 'gpt-4o',
        provider: 'openai',
        inputPerMTok: 2.5,
        outputPerMTok: 10,
        cachedInputPerMTok: 1.25,
      });
    }
  });

  it('uses an injected table', async () => {
    const table = new PriceTable({ catalog: false });
    const { code, stdout } = await run(['gpt-4o', '--json'], table);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ source: 'builtin', matched: 'gpt-4o' });
  });

  it('exits 1 with a message on stderr for an unknown model', async () => {
    const { code, stdout, stderr } = await run(['unknown-model']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('no price known for model "unknown-model"');
  });

  it('exits 2 with usage when the model is missing, doubled, empty, or an option is unknown', async () => {
    for (const argv of [[], ['--json'], ['a', 'b'], ['gpt-4o', '--yaml'], ['  ']]) {
      const { code, stdout, stderr } = await run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/tokenwarden prices: /);
    }
    expect((await run([])).stderr).toContain('Usage: tokenwarden prices MODEL [--config FILE] [--json]');
  });

  it('names the first word that is not an option as typed, before or after a --help', async () => {
    for (const [argv, word] of [[['gpt-4o', '--json=1'], '--json=1'], [['--', 'gpt-4o'], '--'], [['--bogus', '--help'], '--bogus'], [['-jx', 'gpt-4o'], '-jx']]) {
      const { code, stdout, stderr } = await run(argv as string[]);
      expect(code, (argv as string[]).join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(`tokenwarden prices: unknown option ${word as string}\n`);
    }
    const help = await run(['--help', '--bogus']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: tokenwarden prices MODEL [--config FILE] [--json]');
  });

  it('prints help to stdout with --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: tokenwarden prices MODEL [--config FILE] [--json]');
  });
});
