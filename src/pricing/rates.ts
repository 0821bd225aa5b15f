import { ValidationError } from '../core/errors.js';
import type { ModelPrice, PriceTier } from './types.js';

/**
 * Internal, compiled form of a price: integer pico-USD (1e-12 USD) per token, every optional rate
 * filled in, so that pricing a call is a handful of integer multiplications.
 *
 * USD per 1M tokens × 1e6 = pico-USD per token. Catalog prices have at most six decimals, so the
 * conversion is exact for all but a handful of repeating fractions (e.g. 1/12 $/MTok), which are
 * rounded to the nearest pico-USD per token.
 */
export interface Rates {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  /** pico-USD per call. */
  request: number;
  /** Whether the source stated these rates (else they default to the input/output rate). */
  hasCacheRead: boolean;
  hasCacheWrite: boolean;
  hasReasoning: boolean;
}

/** A price schedule: base rates and long-prompt tiers (ascending by threshold). */
export interface Schedule {
  rates: Rates;
  tiers: ReadonlyArray<{ above: number; rates: Rates }>;
}

/** Converts USD per 1M tokens to integer pico-USD per token. */
export function picoPerToken(usdPerMTok: number): number {
  return Math.round(usdPerMTok * 1e6);
}

/** Converts USD per 1 000 requests to integer pico-USD per request. */
export function picoPerRequest(usdPerThousand: number): number {
  return Math.round(usdPerThousand * 1e9);
}

/** Compiles a flat {@link ModelPrice} (already validated). */
export function compileModelPrice(price: ModelPrice): Schedule {
  return { rates: compileRates(price, price.perThousandRequests ?? 0), tiers: [] };
}

/** Compiles rates for one tier or flat price. */
export function compileRates(price: Omit<PriceTier, 'aboveInputTokens'>, perThousandRequests: number): Rates {
  const input = picoPerToken(price.inputPerMTok);
  const output = picoPerToken(price.outputPerMTok);
  return {
    input,
    output,
    cacheRead: price.cachedInputPerMTok === undefined ? input : picoPerToken(price.cachedInputPerMTok),
    cacheWrite: price.cacheWritePerMTok === undefined ? input : picoPerToken(price.cacheWritePerMTok),
    reasoning: price.reasoningPerMTok === undefined ? output : picoPerToken(price.reasoningPerMTok),
    request: picoPerRequest(perThousandRequests),
    hasCacheRead: price.cachedInputPerMTok !== undefined,
    hasCacheWrite: price.cacheWritePerMTok !== undefined,
    hasReasoning: price.reasoningPerMTok !== undefined,
  };
}

/** Picks the rates of `schedule` that apply to a call with `promptTokens` prompt tokens. */
export function ratesFor(schedule: Schedule, promptTokens: number): Rates {
  let rates = schedule.rates;
  for (const tier of schedule.tiers) {
    if (promptTokens > tier.above) rates = tier.rates;
  }
  return rates;
}

/**
 * Cost of one call in integer nano-USD, rounded half-up once. Counts are validated non-negative
 * integers with `cached + write <= prompt` and `reasoning <= completion`.
 *
 * Products are summed as doubles when the total is a safe integer (then every term was exact, as all
 * are non-negative), else recomputed with BigInt.
 */
export function costNanos(
  rates: Rates,
  prompt: number,
  completion: number,
  cached: number,
  write: number,
  reasoning: number,
): number {
  const uncached = prompt - cached - write;
  const visible = completion - reasoning;
  const pico =
    uncached * rates.input +
    cached * rates.cacheRead +
    write * rates.cacheWrite +
    visible * rates.output +
    reasoning * rates.reasoning +
    rates.request;
  if (Number.isSafeInteger(pico)) {
    // Exact: pico < 2^53 puts pico / 1000 below 2^44, where doubles are at most 2^-9 apart, and a
    // quotient of integers by 1000 is at least 0.001 below the next integer, so floor() never rounds up.
    const q = Math.floor(pico / 1000);
    return pico - q * 1000 >= 500 ? q + 1 : q;
  }
  const big =
    BigInt(uncached) * BigInt(rates.input) +
    BigInt(cached) * BigInt(rates.cacheRead) +
    BigInt(write) * BigInt(rates.cacheWrite) +
    BigInt(visible) * BigInt(rates.output) +
    BigInt(reasoning) * BigInt(rates.reasoning) +
    BigInt(rates.request);
  const nanos = (big + 500n) / 1000n;
  // A cost past 2^53 nano-USD (about 9 million USD for one call) cannot be summed exactly as a number:
  // refuse it rather than return a rounded figure that stores and ledgers would then disagree on.
  if (nanos > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ValidationError('costNanos', `${nanos} nano-USD`, 'the cost of this usage must be at most 2^53 - 1 nano-USD (about 9 million USD)');
  }
  return Number(nanos);
}
