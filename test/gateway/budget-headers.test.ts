/** The budget and rate-limit headers of an answer, from its policy standings (a pure function). */
import { describe, expect, it } from 'vitest';
import type { PolicyStanding } from '../../src/budget/policy-types.js';
import { budgetHeaders, publicEntity, resetText, usdText } from '../../src/gateway/budget-headers.js';

const NOW = Date.UTC(2026, 10, 30, 17, 59, 17, 500);
const DAY_END = Date.UTC(2026, 11, 1);
const MINUTE_END = Date.UTC(2026, 10, 30, 18, 0);

function standing(over: Partial<PolicyStanding>): PolicyStanding {
  return {
    policy: 'p',
    scope: 'user',
    entity: 'acme/u-7',
    meter: 'budget',
    windowStart: Date.UTC(2026, 10, 30),
    resetsAt: DAY_END,
    limits: {},
    spentNanos: 0,
    reservedNanos: 0,
    usedTokens: 0,
    reservedTokens: 0,
    requests: 0,
    reservedRequests: 0,
    ...over,
  };
}

describe('budgetHeaders', () => {
  it('names the tightest budget line (smallest remaining fraction of any limit), held amounts counted as used', () => {
    const roomy = standing({ policy: 'org-monthly', scope: 'org', entity: 'acme', limits: { nanos: 500e9 }, spentNanos: 100e9 }); // 80 % left
    const tight = standing({ policy: 'user-daily', limits: { nanos: 5e9, tokens: 1000 }, spentNanos: 1e9, reservedNanos: 0.5e9, usedTokens: 700, reservedTokens: 100 }); // 20 % of tokens left
    const headers = budgetHeaders([roomy, tight], NOW);
    expect(headers).toEqual({
      'x-budget-policy': 'user-daily',
      'x-budget-scope': 'user',
      'x-budget-entity': 'acme/u-7',
      'x-budget-limit-usd': '5',
      'x-budget-remaining-usd': '3.5',
      'x-budget-limit-tokens': '1000',
      'x-budget-remaining-tokens': '200',
      'x-budget-reset': '2026-12-01T00:00:00.000Z',
    });
  });

  it('leaves out the reset of a lifetime budget, and never shows a negative remainder', () => {
    const lifetime = standing({ policy: 'agent-cap', scope: 'agent', entity: 'a1', windowStart: 0, resetsAt: null, limits: { tokens: 100 }, usedTokens: 130 });
    expect(budgetHeaders([lifetime], NOW)).toEqual({
      'x-budget-policy': 'agent-cap',
      'x-budget-scope': 'agent',
      'x-budget-entity': 'a1',
      'x-budget-limit-tokens': '100',
      'x-budget-remaining-tokens': '0',
    });
  });

  it('gives OpenAI rate-limit headers: requests and tokens each from the line with the least left', () => {
    const rate = (over: Partial<PolicyStanding>) => standing({ meter: 'rate', windowStart: MINUTE_END - 60_000, resetsAt: MINUTE_END, ...over });
    const keyRate = rate({ policy: 'key-rate', scope: 'key', entity: 'ci', limits: { requests: 60, tokens: 100_000 }, requests: 10, reservedRequests: 1, usedTokens: 1_000, reservedTokens: 500 });
    const userRate = rate({ policy: 'user-rate', limits: { requests: 3 }, requests: 1, reservedRequests: 1 });
    const headers = budgetHeaders([keyRate, userRate], NOW);
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '1',
      'x-ratelimit-reset-requests': '42.5s',
      'x-ratelimit-limit-tokens': '100000',
      'x-ratelimit-remaining-tokens': '98500',
      'x-ratelimit-reset-tokens': '42.5s',
    });
  });

  it('has no headers without standings, and shows entities safely', () => {
    expect(budgetHeaders([], NOW)).toEqual({});
    const odd = standing({ entity: 'acme/Zoë\n', limits: { tokens: 10 } });
    expect(budgetHeaders([odd], NOW)['x-budget-entity']).toBe('acme%2FZo%C3%AB%0A');
    const thread = standing({ scope: 'thread', entity: 'acme/t1', limits: { tokens: 10 } });
    expect(budgetHeaders([thread], NOW, { publicEntity })['x-budget-entity']).toBe('t1');
  });
});

describe('resetText and usdText', () => {
  it('writes durations as OpenAI does (Go duration format)', () => {
    expect(resetText(1_000)).toBe('1s');
    expect(resetText(360_000)).toBe('6m0s');
    expect(resetText(42_500)).toBe('42.5s');
    expect(resetText(350)).toBe('350ms');
    expect(resetText(3_723_000)).toBe('1h2m3s');
    expect(resetText(-5)).toBe('0s');
  });

  it('writes nano-USD as exact decimals', () => {
    expect(usdText(1_500_000_000)).toBe('1.5');
    expect(usdText(1)).toBe('0.000000001');
    expect(usdText(123_456_789_012)).toBe('123.456789012');
    expect(usdText(0)).toBe('0');
  });
});
