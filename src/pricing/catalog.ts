import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { isPlainObject } from '../core/objects.js';
import { compileRates, type Rates, type Schedule } from './rates.js';

/**
 * Adapter over the price catalog shipped in `@pydantic/genai-prices`. Only its bundled data is used:
 * this module never calls `updatePrices`/`waitForUpdate`, so it works offline and its answers change
 * only when the package version does.
 */

/** When a catalog price variant applies. */
export type TimeConstraint =
  | { kind: 'from'; atMs: number }
  | { kind: 'daily'; startSec: number; endSec: number };

/** One priced variant of a catalog model (most models have exactly one, unconstrained). */
export interface CatalogVariant {
  when: TimeConstraint | undefined;
  schedule: Schedule;
}

/** A catalog model compiled for pricing. */
export interface CatalogEntry {
  provider: string;
  modelId: string;
  /** In catalog order; {@link selectVariant} picks the one in force. */
  variants: readonly CatalogVariant[];
}

type RawPrice = Record<string, unknown>;

const TOKEN_KEYS = ['input_mtok', 'output_mtok', 'requests_kcount'] as const;

/**
 * Looks `model` up in the catalog. Tries the name as given, then `provider/model` forms (e.g.
 * `openai/gpt-4o`) with the provider as a hint. Returns `undefined` when the catalog has no text-token
 * price for it.
 *
 * @example
 * ```ts
 * lookupCatalog('claude-3-5-haiku-20241022')?.modelId; // 'claude-3-5-haiku-latest'
 * ```
 */
export function lookupCatalog(model: string): CatalogEntry | undefined {
  const direct = query(model, undefined);
  if (direct) return direct;
  const slash = model.indexOf('/');
  if (slash > 0 && slash < model.length - 1) {
    const prefix = model.slice(0, slash);
    const rest = model.slice(slash + 1);
    return findProvider({ providerId: prefix }) ? query(rest, prefix) : query(rest, undefined);
  }
  return undefined;
}

/** The schedule of `entry` in force at `atMs`, with the catalog's semantics (last matching variant wins). */
export function selectVariant(entry: CatalogEntry, atMs: number): Schedule {
  const { variants } = entry;
  for (let i = variants.length - 1; i >= 0; i--) {
    const variant = variants[i]!;
    if (variant.when === undefined || applies(variant.when, atMs)) return variant.schedule;
  }
  return variants[0]!.schedule;
}

function applies(when: TimeConstraint, atMs: number): boolean {
  if (when.kind === 'from') return atMs >= when.atMs;
  const sec = (((atMs / 1000) % 86_400) + 86_400) % 86_400;
  return when.endSec < when.startSec
    ? sec >= when.startSec || sec < when.endSec
    : sec >= when.startSec && sec < when.endSec;
}

/**
 * Looks `model` up among the catalog models of one provider (`openai`, `anthropic`, `xai`...), without the
 * fallbacks of {@link lookupCatalog}. `undefined` when that provider has no text-token price for it.
 */
export function lookupCatalogOf(model: string, providerId: string): CatalogEntry | undefined {
  return query(model, providerId);
}

function query(model: string, providerId: string | undefined): CatalogEntry | undefined {
  let result: ReturnType<typeof calcPrice>;
  try {
    result = calcPrice({}, model, providerId ? { providerId } : undefined);
  } catch {
    return undefined; // a catalog entry it cannot evaluate is treated as absent
  }
  if (!result) return undefined;
  const raw: unknown = result.model.prices;
  const variants: CatalogVariant[] = [];
  if (Array.isArray(raw)) {
    for (const item of raw as unknown[]) {
      if (!isPlainObject(item) || !isPlainObject(item.prices)) return undefined;
      const schedule = compileSchedule(item.prices);
      if (!schedule) return undefined;
      const when = item.constraint === undefined ? undefined : parseConstraint(item.constraint);
      if (when === null) return undefined;
      variants.push({ when, schedule });
    }
    if (variants.length === 0) return undefined;
  } else if (isPlainObject(raw)) {
    const schedule = compileSchedule(raw);
    if (!schedule) return undefined;
    variants.push({ when: undefined, schedule });
  } else {
    return undefined;
  }
  return { provider: result.provider.id, modelId: result.model.id, variants };
}

function compileSchedule(price: RawPrice): Schedule | undefined {
  if (!TOKEN_KEYS.some((key) => price[key] !== undefined)) return undefined;
  const thresholds = new Set<number>();
  for (const value of Object.values(price)) {
    if (isPlainObject(value) && Array.isArray(value.tiers)) {
      for (const tier of value.tiers as unknown[]) {
        if (isPlainObject(tier) && typeof tier.start === 'number') thresholds.add(tier.start);
      }
    }
  }
  const at = (promptTokens: number): Rates | undefined => {
    const input = rate(price.input_mtok, promptTokens) ?? 0;
    const output = rate(price.output_mtok, promptTokens) ?? 0;
    const requests = rate(price.requests_kcount, promptTokens) ?? 0;
    const cacheRead = rate(price.cache_read_mtok, promptTokens);
    const cacheWrite = rate(price.cache_write_mtok, promptTokens);
    const reasoning = rate(price.output_reasoning_mtok, promptTokens);
    const all = [input, output, requests, cacheRead, cacheWrite, reasoning];
    if (all.some((v) => v !== undefined && !(Number.isFinite(v) && v >= 0))) return undefined;
    return compileRates(
      {
        inputPerMTok: input,
        outputPerMTok: output,
        cachedInputPerMTok: cacheRead,
        cacheWritePerMTok: cacheWrite,
        reasoningPerMTok: reasoning,
      },
      requests,
    );
  };
  const base = at(0);
  if (!base) return undefined;
  const tiers: Array<{ above: number; rates: Rates }> = [];
  for (const above of [...thresholds].sort((a, b) => a - b)) {
    const rates = at(above + 1);
    if (!rates) return undefined;
    tiers.push({ above, rates });
  }
  return { rates: base, tiers };
}

/** A catalog rate for a call with `promptTokens` prompt tokens: flat, or tiered on the prompt size. */
function rate(value: unknown, promptTokens: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  if (!isPlainObject(value) || typeof value.base !== 'number' || !Array.isArray(value.tiers)) return NaN;
  let current = value.base;
  for (const tier of value.tiers as unknown[]) {
    if (!isPlainObject(tier) || typeof tier.start !== 'number' || typeof tier.price !== 'number') return NaN;
    if (promptTokens > tier.start) current = tier.price;
  }
  return current;
}

/** Parses a catalog constraint; `null` when it is of a kind this adapter does not understand. */
function parseConstraint(value: unknown): TimeConstraint | null {
  if (!isPlainObject(value)) return null;
  if (value.type === 'start_date' && typeof value.start_date === 'string') {
    const atMs = Date.parse(`${value.start_date}T00:00:00Z`);
    return Number.isNaN(atMs) ? null : { kind: 'from', atMs };
  }
  if (value.type === 'time_of_date' && typeof value.start_time === 'string' && typeof value.end_time === 'string') {
    const startSec = secondsOfDay(value.start_time);
    const endSec = secondsOfDay(value.end_time);
    return startSec === undefined || endSec === undefined ? null : { kind: 'daily', startSec, endSec };
  }
  return null;
}

/** `HH:MM:SS[.fff](Z|±HH:MM)` → seconds after midnight UTC. */
function secondsOfDay(text: string): number | undefined {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) return undefined;
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  const offset = m[4] === 'Z' ? 0 : (m[5] === '+' ? 1 : -1) * (Number(m[6]) * 3600 + Number(m[7]) * 60);
  return (((local - offset) % 86_400) + 86_400) % 86_400;
}
