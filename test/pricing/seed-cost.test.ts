// Ported from xml-pipeline tests/test_token_budget.py (TestCostEstimation): every case kept; names describe the behaviour.
import { afterEach, describe, expect, it } from 'vitest';
import { estimateCost, estimateCostNanos } from '../../src/pricing/estimate.js';
import { resetPrices } from '../../src/pricing/global-prices.js';

describe('cost estimation', () => {
  afterEach(() => resetPrices());

  it('grok-4.1 costs $3 per 1M prompt tokens plus $15 per 1M completion tokens', () => {
    expect(estimateCost('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(18);
  });

  it('claude-opus-4 costs $15 per 1M prompt tokens plus $75 per 1M completion tokens', () => {
    expect(estimateCost('claude-opus-4', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(90);
  });

  it('gpt-4o costs $2.50 per 1M prompt tokens plus $10 per 1M completion tokens', () => {
    expect(estimateCost('gpt-4o', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(12.5);
  });

  it('an unknown model has no price, in dollars or in nano-USD', () => {
    expect(estimateCost('unknown-model', { promptTokens: 1000, completionTokens: 500 })).toBeUndefined();
    expect(estimateCostNanos('unknown-model', { promptTokens: 1000, completionTokens: 500 })).toBeUndefined();
  });

  it('small counts give fractional costs: 1000 + 500 tokens of gpt-4o-mini cost $0.00045', () => {
    const cost = estimateCost('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 });
    expect(cost).toBeCloseTo(0.00045, 10);
    expect(Math.abs(cost! - 0.00045) / 0.00045).toBeLessThan(1e-4);
    expect(estimateCostNanos('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 })).toBe(450_000);
  });

  it('the nano-USD price of 1M + 1M tokens of grok-4.1 is exactly $18', () => {
    expect(estimateCostNanos('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(
      18_000_000_000,
    );
  });

  it("claude-sonnet-4 keeps the seed's price: $3 per 1M prompt tokens plus $15 per 1M completion tokens", () => {
    expect(estimateCost('claude-sonnet-4', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(18);
  });
});
