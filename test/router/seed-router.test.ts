/**
 * The seed's TestLLMRouterBudgetIntegration cases, ported: a router built with no options uses the
 * global budget registry and the global usage tracker.
 */
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

describe('TestLLMRouterBudgetIntegration', () => {
  beforeEach(() => {
    resetBudgetRegistry();
    resetUsageTracker();
  });
  afterEach(() => {
    resetBudgetRegistry();
    resetUsageTracker();
  });

  it('test_complete_consumes_budget: complete consumes from the thread budget', async () => {
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

  it('test_complete_emits_usage_event: complete emits one usage event', async () => {
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

  it('test_complete_raises_when_budget_exhausted: refuses before calling any backend', async () => {
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

  it('test_complete_without_thread_id_skips_budget: no thread id, no budget', async () => {
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
