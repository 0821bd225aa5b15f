import { basename } from 'node:path';
import { TokenwardenError } from '../core/errors.js';
import { getPriceTable } from '../pricing/global-prices.js';
import type { PriceTable } from '../pricing/price-table.js';
import type { PriceTier, ResolvedPrice } from '../pricing/types.js';
import { priceTableOf } from '../server/build-runtime.js';
import { loadConfig } from '../server/load-config.js';
import type { ConfigEnv } from '../server/validate-config.js';
import { describeArgvProblem, parseCommandLine, type CommandOptions } from './argv.js';

/** Where the command writes. */
export interface PricesCommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = `Usage: tokenwarden prices MODEL [--config FILE] [--json]

Shows the price per 1M tokens tokenwarden applies to MODEL and where it came from:
the configuration's prices: section, an override, the @pydantic/genai-prices catalog,
or the built-in table.

Options:
  --config FILE  YAML configuration whose prices: section applies (default: ./tokenwarden.yaml
                 when present, or $TOKENWARDEN_CONFIG), as for tokenwarden serve
  --json         print the resolved price as JSON
  -h, --help     show this help
`;

const PRICES_OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies CommandOptions;

/**
 * What `--json` prints: the resolved price, with `source: 'config'` and `config: <file>` when the
 * configuration's `prices:` section priced it (the price table calls it an override).
 */
export type PricesCommandOutput = Omit<ResolvedPrice, 'source'> & { source: ResolvedPrice['source'] | 'config'; config?: string };

/** Options of {@link runPricesCommand}. */
export interface PricesCommandOptions {
  /** Price with this table and read no configuration (tests, embedding). */
  table?: PriceTable;
  /** Environment for finding and checking the configuration. Default `process.env`. */
  env?: ConfigEnv;
  /** Directory the default `tokenwarden.yaml` is looked for in. Default `process.cwd()`. */
  cwd?: string;
}

const SOURCE_LABEL: Record<ResolvedPrice['source'], string> = {
  override: 'user override',
  catalog: 'catalog (@pydantic/genai-prices, bundled data)',
  builtin: 'built-in table',
};

/**
 * `tokenwarden prices MODEL [--json]`: prints the price used for MODEL (USD per 1M tokens), its source
 * and matched key, and cache/reasoning rates when known. Returns the exit code: 0 found, 1 unknown
 * model, 2 usage error. `argv` is what follows `prices` on the command line.
 *
 * @example
 * ```ts
 * const code = await runPricesCommand(['claude-opus-4', '--json'], {
 *   stdout: (s) => process.stdout.write(s),
 *   stderr: (s) => process.stderr.write(s),
 * });
 * ```
 */
export async function runPricesCommand(argv: string[], io: PricesCommandIO, options: PricesCommandOptions = {}): Promise<number> {
  const line = parseCommandLine(argv, PRICES_OPTIONS, { positionals: true, once: true, nonEmpty: true });
  const helpAt = argv.findIndex((arg) => arg === '-h' || arg === '--help');
  if (helpAt >= 0 && (!line.problem || helpAt < line.problem.index)) {
    io.stdout(USAGE);
    return 0;
  }
  if (line.problem) {
    // A value problem of --config in the shared words; any other is a word that is not an option, as typed.
    const { problem } = line;
    const valued = problem.kind === 'missing-value' || problem.kind === 'dash-value' || problem.kind === 'repeated';
    const what = valued ? describeArgvProblem(problem, () => '') : `unknown option ${argv[problem.index]}`;
    io.stderr(`tokenwarden prices: ${what}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals: positional } = line;
  if (positional.length !== 1) {
    io.stderr(
      (positional.length === 0
        ? 'tokenwarden prices: missing MODEL'
        : `tokenwarden prices: expected one MODEL, got ${positional.length}: ${positional.join(' ')}`) + `\n\n${USAGE}`,
    );
    return 2;
  }
  const model = positional[0]!;
  try {
    const { table, file } = options.table ? { table: options.table, file: undefined } : await configuredTable(values.config, options);
    const price = table.resolvePrice(model);
    if (!price) {
      io.stderr(
        `tokenwarden prices: no price known for model ${JSON.stringify(model)}.\n` +
          `Checked ${file ? `the prices: section of ${file}, ` : ''}user overrides, the @pydantic/genai-prices catalog and the built-in table; ` +
          'cost estimates for this model will be undefined. Add it to the prices: section of the configuration to price it.\n',
      );
      return 1;
    }
    const output = describeSource(price, file);
    io.stdout(values.json === true ? JSON.stringify(output, null, 2) + '\n' : formatPrice(output));
    return 0;
  } catch (err) {
    if (!(err instanceof TokenwardenError)) throw err;
    io.stderr(`tokenwarden prices: ${err.message}\n`);
    return 2;
  }
}

/**
 * The table to price with: the configuration's `prices:` over the catalog when the configuration (the
 * `--config` file, else the default one `serve` would read) has any, else the process-wide table.
 * Returns the file whose prices apply, if any.
 */
async function configuredTable(
  file: string | undefined,
  options: PricesCommandOptions,
): Promise<{ table: PriceTable; file: string | undefined }> {
  const config = await loadConfig({
    ...(file !== undefined ? { file } : {}),
    env: options.env ?? process.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  if (config.prices.length === 0 || config.file === undefined) return { table: getPriceTable(), file: undefined };
  return { table: priceTableOf(config.prices), file: config.file };
}

/** A price with its source named after the configuration file when that file's `prices:` priced it. */
function describeSource(price: ResolvedPrice, file: string | undefined): PricesCommandOutput {
  if (file === undefined || price.source !== 'override') return price;
  return { ...price, source: 'config', config: file };
}

function formatPrice(price: PricesCommandOutput): string {
  const lines = [`${price.model}: USD per 1M tokens`];
  const label = price.source === 'config' ? `config (${basename(price.config!)} prices)` : SOURCE_LABEL[price.source];
  const from = [label, `matched ${JSON.stringify(price.matched)}`];
  if (price.provider) from.push(`provider ${price.provider}`);
  lines.push(`  source        ${from.join(', ')}`);
  lines.push(...rateLines(price));
  if (price.perThousandRequests !== undefined) {
    lines.push(`  per request   ${usd(price.perThousandRequests)} per 1K requests`);
  }
  for (const tier of price.tiers ?? []) {
    lines.push(`  above ${tier.aboveInputTokens.toLocaleString('en-US')} prompt tokens:`);
    lines.push(...rateLines(tier).map((line) => '  ' + line));
  }
  if (price.variesByTime) lines.push('  note          the catalog prices this model by date/time of day; shown for now');
  return lines.join('\n') + '\n';
}

function rateLines(rates: Omit<PriceTier, 'aboveInputTokens'>): string[] {
  const lines = [`  input         ${usd(rates.inputPerMTok)}`, `  output        ${usd(rates.outputPerMTok)}`];
  if (rates.cachedInputPerMTok !== undefined) lines.push(`  cached input  ${usd(rates.cachedInputPerMTok)}`);
  if (rates.cacheWritePerMTok !== undefined) lines.push(`  cache write   ${usd(rates.cacheWritePerMTok)}`);
  if (rates.reasoningPerMTok !== undefined) lines.push(`  reasoning     ${usd(rates.reasoningPerMTok)}`);
  return lines;
}

/** `$2.50`, `$0.075`, `$0.0004`: at least two decimals, more when the price needs them. */
function usd(value: number): string {
  const plain = String(value);
  const decimals = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
  return `$${value.toFixed(Math.min(Math.max(2, decimals), 6))}`;
}
