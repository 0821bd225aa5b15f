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
