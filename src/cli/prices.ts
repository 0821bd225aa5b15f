import { TokenwardenError } from '../core/errors.js';
import { getPriceTable } from '../pricing/global-prices.js';
import type { PriceTable } from '../pricing/price-table.js';
import type { PriceTier, ResolvedPrice } from '../pricing/types.js';
import { parseCommandLine, type CommandOptions } from './argv.js';

/** Where the command writes. */
export interface PricesCommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = `Usage: tokenwarden prices MODEL [--json]

Shows the price per 1M tokens tokenwarden applies to MODEL and where it came from:
an override, the @pydantic/genai-prices catalog, or the built-in table.

Options:
  --json      print the resolved price as JSON
  -h, --help  show this help
`;

const PRICES_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies CommandOptions;

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
export async function runPricesCommand(
  argv: string[],
  io: PricesCommandIO,
  options: { table?: PriceTable } = {},
): Promise<number> {
  const line = parseCommandLine(argv, PRICES_OPTIONS, { positionals: true });
  const helpAt = argv.findIndex((arg) => arg === '-h' || arg === '--help');
  if (helpAt >= 0 && (!line.problem || helpAt < line.problem.index)) {
    io.stdout(USAGE);
    return 0;
  }
  if (line.problem) {
    // Only switches here: any problem is a word that is not one (`--yaml`, `--json=1`), named as typed.
    io.stderr(`tokenwarden prices: unknown option ${argv[line.problem.index]}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals: positional } = line;
  const json = values.json === true;
  if (positional.length !== 1) {
    io.stderr(
      (positional.length === 0
        ? 'tokenwarden prices: missing MODEL'
        : `tokenwarden prices: expected one MODEL, got ${positional.length}: ${positional.join(' ')}`) + `\n\n${USAGE}`,
    );
    return 2;
  }
  const model = positional[0]!;
  const table = options.table ?? getPriceTable();
  let price: ResolvedPrice | undefined;
  try {
    price = table.resolvePrice(model);
  } catch (err) {
    if (!(err instanceof TokenwardenError)) throw err;
    io.stderr(`tokenwarden prices: ${err.message}\n`);
    return 2;
  }
  if (!price) {
    io.stderr(
      `tokenwarden prices: no price known for model ${JSON.stringify(model)}.\n` +
        'Checked user overrides, the @pydantic/genai-prices catalog and the built-in table; ' +
        'cost estimates for this model will be undefined. Add an override to price it.\n',
    );
    return 1;
  }
  io.stdout(json ? JSON.stringify(price, null, 2) + '\n' : formatPrice(price));
  return 0;
}

function formatPrice(price: ResolvedPrice): string {
  const lines = [`${price.model}: USD per 1M tokens`];
  const from = [SOURCE_LABEL[price.source], `matched ${JSON.stringify(price.matched)}`];
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
