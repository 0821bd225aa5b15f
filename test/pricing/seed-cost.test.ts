import { afterEach, describe, expect, it } from 'vitest';
import { estimateCost, estimateCostNanos } from '../../src/pricing/estimate.js';
import { resetPrices } from '../../src/pricing/global-prices.js';

// Port of the seed's TestCostEstimation (xml-pipeline), with the seed's case names.
describe('TestCostEstimation', () => {
  afterEach(() => resetPrices());

  it('test_grok_cost: grok-4.1 costs $3/1M prompt + $15/1M completion', () => {
    expect(estimateCost('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(18);
  });

  it('test_claude_opus_cost: claude-opus-4 costs $15/1M + $75/1M', () => {
    expect(estimateCost('claude-opus-4', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(90);
  });

  it('test_gpt4o_cost: gpt-4o costs $2.5/1M + $10/1M', () => {
    expect(estimateCost('gpt-4o', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(12.5);
  });

  it('test_unknown_model_returns_none: an unknown model has no price', () => {
    expect(estimateCost('unknown-model', { promptTokens: 1000, completionTokens: 500 })).toBeUndefined();
    expect(estimateCostNanos('unknown-model', { promptTokens: 1000, completionTokens: 500 })).toBeUndefined();
  });

  it('test_small_usage_cost: small counts give fractional costs', () => {
    const cost = estimateCost('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 });
    expect(cost).toBeCloseTo(0.00045, 10);
    expect(Math.abs(cost! - 0.00045) / 0.00045).toBeLessThan(1e-4);
    expect(estimateCostNanos('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 })).toBe(450_000);
  });

  it('test_record_estimates_cost: the nano-USD price the tracker records for grok-4.1 is $18', () => {
    expect(estimateCostNanos('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(
      18_000_000_000,
    );
  });

  it("claude-sonnet-4 keeps the seed's $3/$15", () => {
    expect(estimateCost('claude-sonnet-4', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(18);
  });
});
