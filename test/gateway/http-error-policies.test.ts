/** How the gateway answers the policy ledger's capacity refusal (a flood of new entities). */
import { describe, expect, it } from 'vitest';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import type { PolicyLine } from '../../src/budget/policy-types.js';
import { toHttpError } from '../../src/gateway/http-error.js';

const line = (entity: string): PolicyLine => ({
  policy: 'user-daily', scope: 'user', entity, meter: 'budget', windowStart: 0, resetsAt: null, window: undefined,
  limits: { tokens: 100 }, priced: true, thresholds: [],
});

describe('a full policy ledger at the gateway', () => {
  it('is a 503 too_many_budget_entities with Retry-After, and the entities already held go on', async () => {
    const ledger = new MemoryPolicyLedger({ maxLines: 2 });
    const a = await ledger.reserve([line('a')], { nanos: 0, tokens: 10 });
    await ledger.reserve([line('b')], { nanos: 0, tokens: 10 });
    const refused = await ledger.reserve([line('c')], { nanos: 0, tokens: 10 }).catch((e: unknown) => e);
    const http = toHttpError(refused);
    expect(http.status).toBe(503);
    expect(http.code).toBe('too_many_budget_entities');
    expect(http.headers).toMatchObject({ 'retry-after': '60' });
    expect(http.message).toContain('user-daily');
    await ledger.settle(a.reservation, { nanos: 0, tokens: 5 });
    await expect(ledger.reserve([line('a')], { nanos: 0, tokens: 10 })).resolves.toBeDefined();
    await ledger.close();
  });
});

describe('a rate limit the request alone exceeds', () => {
  it('is a 429 without Retry-After and with x-should-retry: false (no wait would let it pass)', async () => {
    const { RateLimitedError } = await import('../../src/core/errors.js');
    const now = Date.UTC(2026, 10, 30, 12, 0, 30);
    const base = { policy: 'key-rate', scope: 'key', entity: 'k1', limit: 'tokens' as const, max: 10_000, used: 0, reserved: 0, resetsAt: now + 30_000, now };
    const tooLarge = toHttpError(new RateLimitedError({ ...base, requested: 20_000 }));
    expect(tooLarge.status).toBe(429);
    expect(tooLarge.code).toBe('rate_limit_exceeded');
    expect(tooLarge.headers?.['retry-after']).toBeUndefined();
    expect(tooLarge.headers).toMatchObject({ 'x-should-retry': 'false' });
    expect(tooLarge.message).toContain('request alone is above the limit');
    const waitable = toHttpError(new RateLimitedError({ ...base, used: 9_000, requested: 2_000 }));
    expect(waitable.headers).toMatchObject({ 'retry-after': '30' });
  });
});
