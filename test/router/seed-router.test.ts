// Ported from xml-pipeline tests/test_token_budget.py (TestLLMRouterBudgetIntegration): every case kept; names describe the behaviour.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { configureBudgetRegistry, getBudgetRegistry, resetBudgetRegistry } from '../../src/budget/registry.js';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import type { Backend, LLMResponse } from '../../src/core/types.js';
import { getUsageTracker, resetUsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';

function mockBackend(): Backend & { complete: ReturnType<typeof vi.fn> } {
  const response: LLMResponse = {
    content: 'Hello!',
    model: 'test-model',
    usage: { promptTokens: 100, completionTokens: 50, totalTokens: 150 },
    finishReason: 'stop',
  };
  return {
    name: 'mock',
    provider: 'test',
    priority: 1,
    load: 0,
    servesModel: vi.fn(() => true),
    complete: vi.fn(async () => response),
  };
}

describe('a router built with no options, on the global budget registry and usage tracker', () => {
  beforeEach(() => {
    resetBudgetRegistry();
    resetUsageTracker();
  });
  afterEach(() => {
    resetBudgetRegistry();
    resetUsageTracker();
  });

  it('complete charges the thread budget with the usage the backend reported', async () => {
    configureBudgetRegistry({ maxTokensPerThread: 10_000 });
    const budgetRegistry = getBudgetRegistry();
    const router = new LLMRouter();
    router.backends.push(mockBackend());

    const response = await router.complete({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      threadId: 'test-thread-123',
    });

    expect(response.content).toBe('Hello!');
    const usage = budgetRegistry.getUsage('test-thread-123');
    expect(usage?.promptTokens).toBe(100);
    expect(usage?.completionTokens).toBe(50);
    expect(usage?.totalTokens).toBe(150);
    expect(usage?.reservedTokens).toBe(0);
    expect(usage?.requestCount).toBe(1);
  });

  it('complete emits one usage event carrying the thread, agent, metadata, provider and model', async () => {
    const tracker = getUsageTracker();
    const received: UsageEvent[] = [];
    tracker.subscribe((e) => received.push(e));

    const router = new LLMRouter();
    router.backends.push(mockBackend());
    await router.complete({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      threadId: 'test-thread',
      agentId: 'greeter',
      metadata: { org_id: 'test-org' },
    });

    expect(received).toHaveLength(1);
    const event = received[0]!;
    expect(event.threadId).toBe('test-thread');
    expect(event.agentId).toBe('greeter');
    expect(event.totalTokens).toBe(150);
    expect(event.metadata.org_id).toBe('test-org');
    expect(event.provider).toBe('test');
    expect(event.model).toBe('test-model');
  });

  it('complete refuses an exhausted thread with BudgetExhaustedError before calling any backend, holding nothing', async () => {
    configureBudgetRegistry({ maxTokensPerThread: 100 });
    const budgetRegistry = getBudgetRegistry();
    budgetRegistry.consume('test-thread', { promptTokens: 100 });

    const backend = mockBackend();
    const router = new LLMRouter();
    router.backends.push(backend);

    const call = router.complete({ model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], threadId: 'test-thread' });
    await expect(call).rejects.toBeInstanceOf(BudgetExhaustedError);
    await expect(call).rejects.toThrow(/budget exhausted/);
    expect(backend.complete).not.toHaveBeenCalled();
    expect(budgetRegistry.getUsage('test-thread')?.reservedTokens).toBe(0);
  });

  it('complete without a thread id touches no budget', async () => {
    const router = new LLMRouter();
    router.backends.push(mockBackend());

    const response = await router.complete({ model: 'test-model', messages: [{ role: 'user', content: 'Hi' }] });

    expect(response.content).toBe('Hello!');
    expect(getBudgetRegistry().size).toBe(0);
    expect(response.budget).toBeUndefined();
  });

  it('follows the global registry when it is reconfigured after the router was built', async () => {
    const router = new LLMRouter();
    router.backends.push(mockBackend());
    configureBudgetRegistry({ maxTokensPerThread: 5_000 });
    await router.complete({ model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], threadId: 't' });
    expect(getBudgetRegistry().getUsage('t')).toMatchObject({ totalTokens: 150, maxTokens: 5_000 });
  });
});
