import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPricesCommand } from '../../src/cli/prices.js';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-prices-cli-'));
  file = join(dir, 'custom.yaml');
  await writeFile(file, 'prices:\n  my-llama-*: { input: 0.2, output: 0.6, cache_read: 0.05 }\n  gpt-4o: { input: 2, output: 8 }\n');
  await mkdir(join(dir, 'project'));
  await writeFile(join(dir, 'project', 'tokenwarden.yaml'), 'prices:\n  house-model: { input: 1, output: 3, cache_write: 1.25 }\n');
  await mkdir(join(dir, 'empty'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `tokenwarden prices ARGV` in `cwd` (default: a directory without tokenwarden.yaml). */
async function run(argv: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runPricesCommand(
    argv,
    { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) },
    { cwd: options.cwd ?? join(dir, 'empty'), env: options.env ?? {} },
  );
  return { code, stdout, stderr };
}

describe('tokenwarden prices with a configuration', () => {
  it('names the config file as the source of a price it sets (text)', async () => {
    const { code, stdout, stderr } = await run(['my-llama-3-8b', '--config', file]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('my-llama-3-8b: USD per 1M tokens');
    expect(stdout).toMatch(/source\s+config \(custom\.yaml prices\), matched "my-llama-"\n/);
    expect(stdout).toMatch(/input\s+\$0\.20\n\s+output\s+\$0\.60\n\s+cached input\s+\$0\.05\n/);
  });

  it('names the config file as the source in JSON, with its path', async () => {
    const { code, stdout } = await run(['--json', '-c', file, 'gpt-4o']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ model: 'gpt-4o', source: 'config', config: file, matched: 'gpt-4o', inputPerMTok: 2, outputPerMTok: 8 });
  });

  it('leaves names the config does not price to the catalog (an exact key is not a prefix)', async () => {
    const { code, stdout } = await run(['gpt-4o-mini', '--json', '--config', file]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ source: 'catalog', matched: 'gpt-4o-mini' });
    expect(out).not.toHaveProperty('config');
  });

  it('reads ./tokenwarden.yaml or $TOKENWARDEN_CONFIG when no --config is given, as serve does', async () => {
    const fromCwd = await run(['house-model', '--json'], { cwd: join(dir, 'project') });
    expect(fromCwd.code).toBe(0);
    expect(JSON.parse(fromCwd.stdout)).toMatchObject({
      source: 'config',
      config: join(dir, 'project', 'tokenwarden.yaml'),
      inputPerMTok: 1,
      outputPerMTok: 3,
      cacheWritePerMTok: 1.25,
    });
    const fromEnv = await run(['my-llama-2'], { env: { TOKENWARDEN_CONFIG: file } });
    expect(fromEnv.stdout).toMatch(/source\s+config \(custom\.yaml prices\)/);
  });

  it('says which config was checked for an unknown model', async () => {
    const { code, stderr } = await run(['nobody-knows', '--config', file]);
    expect(code).toBe(1);
    expect(stderr).toContain(`Checked the prices: section of ${file}, `);
    expect(stderr).toContain('Add it to the prices: section of the configuration to price it.');
  });

  it('exits 2 with the problem, path and line of a bad config', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'prices:\n  my-model: { input: 1, output: -2 }\n');
    const { code, stdout, stderr } = await run(['my-model', '--config', bad]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('prices["my-model"].output: must be a finite number >= 0 (USD per 1M tokens) (got -2) (line 2)');
  });

  it('exits 2 for a missing config file or a --config without a value', async () => {
    const missing = await run(['gpt-4o', '--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('file not found');
    const noValue = await run(['gpt-4o', '--config']);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toMatch(/^tokenwarden prices: .*--config/);
  });
});
