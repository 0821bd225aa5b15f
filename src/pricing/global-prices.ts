import { PriceTable, type PriceTableOptions } from './price-table.js';

let table: PriceTable | undefined;

/**
 * The process-wide price table used by `estimateCost`, `estimateCostNanos` and `resolvePrice`
 * (created on first use with default options: no overrides, catalog on).
 *
 * @example
 * ```ts
 * getPriceTable().setOverride('my-model', { inputPerMTok: 1, outputPerMTok: 2 });
 * ```
 */
export function getPriceTable(): PriceTable {
  table ??= new PriceTable();
  return table;
}

/**
 * Replaces the process-wide price table with one built from `options` (validated first; on error the
 * current table stays in place). Returns the new table.
 *
 * @example
 * ```ts
 * configurePrices({ overrides: { 'gpt-4o': { inputPerMTok: 2, outputPerMTok: 8 } } });
 * ```
 */
export function configurePrices(options: PriceTableOptions = {}): PriceTable {
  const next = new PriceTable(options);
  table = next;
  return next;
}

/**
 * Drops the process-wide price table (and its overrides); the next use creates a default one.
 *
 * @example
 * ```ts
 * afterEach(() => resetPrices());
 * ```
 */
export function resetPrices(): void {
  table = undefined;
}
