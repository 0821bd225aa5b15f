// Port of the seed's test_token_budget.py: ThreadBudget, ThreadBudgetRegistry and budget cleanup.
// Case names are the seed's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { ThreadBudget } from '../../src/budget/thread-budget.js';
import {
  ThreadBudgetRegistry,
  configureBudgetRegistry,
  getBudgetRegistry,
  resetBudgetRegistry,
} from '../../src/budget/registry.js';

describe('TestThreadBudget', () => {
  it('test_initial_state', () => {
    const budget = new ThreadBudget({ maxTokens: 10000 });
    expect(budget.totalTokens).toBe(0);
    expect(budget.remaining).toBe(10000);
    expect(budget.isExhausted).toBe(false);
  });

  it('test_consume_tokens', () => {
    const budget = new ThreadBudget({ maxTokens: 10000 });
    budget.consume({ promptTokens: 500, completionTokens: 300 });
    expect(budget.promptTokens).toBe(500);
    expect(budget.completionTokens).toBe(300);
    expect(budget.totalTokens).toBe(800);
    expect(budget.remaining).toBe(9200);
    expect(budget.requestCount).toBe(1);
  });

  it('test_can_consume_within_budget', () => {
    const budget = new ThreadBudget({ maxTokens: 1000 });
    budget.consume({ promptTokens: 400 });
    expect(budget.canConsume(500)).toBe(true);
    expect(budget.canConsume(600)).toBe(true);
    expect(budget.canConsume(601)).toBe(false);
  });

  it('test_is_exhausted', () => {
    const budget = new ThreadBudget({ maxTokens: 1000 });
    budget.consume({ promptTokens: 1000 });
    expect(budget.isExhausted).toBe(true);
    expect(budget.remaining).toBe(0);
  });

  it('test_remaining_never_negative', () => {
    const budget = new ThreadBudget({ maxTokens: 100 });
    budget.consume({ promptTokens: 200 });
    expect(budget.remaining).toBe(0);
    expect(budget.totalTokens).toBe(200);
  });
});

describe('TestThreadBudgetRegistry', () => {
  beforeEach(() => resetBudgetRegistry());
  afterEach(() => resetBudgetRegistry());

  it('test_default_budget_creation', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 50000 });
    const budget = registry.getBudget('thread-1');
    expect(budget.maxTokens).toBe(50000);
    expect(budget.totalTokens).toBe(0);
  });

  it('test_configure_max_tokens', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    const budget1 = registry.getBudget('thread-1');
    registry.configure({ maxTokensPerThread: 20000 });
    const budget2 = registry.getBudget('thread-2');
    expect(budget1.maxTokens).toBe(10000);
    expect(budget2.maxTokens).toBe(20000);
  });

  it('test_check_budget_success', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    expect(registry.checkBudget('thread-1', 5000)).toBe(true);
  });

  it('test_check_budget_exhausted', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    registry.consume('thread-1', { promptTokens: 1000 });
    let caught: unknown;
    try {
      registry.checkBudget('thread-1', 100);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BudgetExhaustedError);
    const err = caught as BudgetExhaustedError;
    expect(String(err.message)).toContain('budget exhausted');
    expect(err.threadId).toBe('thread-1');
    expect(err.used).toBe(1000);
    expect(err.maxTokens).toBe(1000);
  });

  it('test_check_budget_would_exceed', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    registry.consume('thread-1', { promptTokens: 600 });
    expect(() => registry.checkBudget('thread-1', 500)).toThrow(BudgetExhaustedError);
  });

  it('test_consume_returns_budget', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    const budget = registry.consume('thread-1', { promptTokens: 100, completionTokens: 50 });
    expect(budget.totalTokens).toBe(150);
    expect(budget.requestCount).toBe(1);
  });

  it('test_get_usage', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 500, completionTokens: 200 });
    registry.consume('thread-1', { promptTokens: 300, completionTokens: 100 });
    const usage = registry.getUsage('thread-1')!;
    expect(usage.promptTokens).toBe(800);
    expect(usage.completionTokens).toBe(300);
    expect(usage.totalTokens).toBe(1100);
    expect(usage.remaining).toBe(8900);
    expect(usage.requestCount).toBe(2);
    expect(usage.maxTokens).toBe(10000);
  });

  it('test_get_all_usage', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 100 });
    registry.consume('thread-2', { promptTokens: 200 });
    const all = registry.getAllUsage();
    expect(Object.keys(all)).toHaveLength(2);
    expect(all).toHaveProperty('thread-1');
    expect(all).toHaveProperty('thread-2');
  });

  it('test_reset_thread', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 500 });
    registry.resetThread('thread-1');
    expect(registry.getBudget('thread-1').totalTokens).toBe(0);
  });

  it('test_cleanup_thread', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 500 });
    const final = registry.cleanupThread('thread-1');
    expect(final!.totalTokens).toBe(500);
    expect(registry.cleanupThread('thread-1')).toBeUndefined();
  });

  it('test_global_registry', () => {
    expect(getBudgetRegistry()).toBe(getBudgetRegistry());
  });

  it('test_global_configure', () => {
    configureBudgetRegistry({ maxTokensPerThread: 75000 });
    expect(getBudgetRegistry().getBudget('new-thread').maxTokens).toBe(75000);
  });
});

describe('TestBudgetCleanup', () => {
  beforeEach(() => resetBudgetRegistry());
  afterEach(() => resetBudgetRegistry());

  it('test_cleanup_thread_returns_budget', () => {
    const registry = new ThreadBudgetRegistry();
    registry.consume('thread-1', { promptTokens: 500, completionTokens: 200 });
    const final = registry.cleanupThread('thread-1');
    expect(final).toBeDefined();
    expect(final!.promptTokens).toBe(500);
    expect(final!.completionTokens).toBe(200);
    expect(final!.totalTokens).toBe(700);
  });

  it('test_cleanup_thread_removes_budget', () => {
    const registry = new ThreadBudgetRegistry();
    registry.consume('thread-1', { promptTokens: 500, completionTokens: 200 });
    registry.cleanupThread('thread-1');
    expect(registry.hasBudget('thread-1')).toBe(false);
    expect(registry.getUsage('thread-1')).toBeUndefined();
  });

  it('test_cleanup_nonexistent_thread_returns_none', () => {
    expect(new ThreadBudgetRegistry().cleanupThread('nonexistent')).toBeUndefined();
  });

  it('test_global_cleanup', () => {
    configureBudgetRegistry({ maxTokensPerThread: 10000 });
    const registry = getBudgetRegistry();
    registry.consume('test-thread', { promptTokens: 1000, completionTokens: 500 });
    expect(registry.hasBudget('test-thread')).toBe(true);
    expect(registry.cleanupThread('test-thread')!.totalTokens).toBe(1500);
    expect(registry.hasBudget('test-thread')).toBe(false);
  });

  it('default maximum is 100 000 tokens', () => {
    expect(new ThreadBudgetRegistry().getBudget('t').maxTokens).toBe(100_000);
  });
});
