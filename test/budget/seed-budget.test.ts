// Ported from xml-pipeline tests/test_token_budget.py (TestThreadBudget, TestThreadBudgetRegistry, TestBudgetCleanup): every case kept; names describe the behaviour.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { ThreadBudget } from '../../src/budget/thread-budget.js';
import {
  ThreadBudgetRegistry,
  configureBudgetRegistry,
  getBudgetRegistry,
  resetBudgetRegistry,
} from '../../src/budget/registry.js';

describe('a thread budget', () => {
  it('a new budget has spent nothing and has all of its tokens remaining', () => {
    const budget = new ThreadBudget({ maxTokens: 10000 });
    expect(budget.totalTokens).toBe(0);
    expect(budget.remaining).toBe(10000);
    expect(budget.isExhausted).toBe(false);
  });

  it('consuming adds the prompt and completion tokens, lowers what remains and counts one request', () => {
    const budget = new ThreadBudget({ maxTokens: 10000 });
    budget.consume({ promptTokens: 500, completionTokens: 300 });
    expect(budget.promptTokens).toBe(500);
    expect(budget.completionTokens).toBe(300);
    expect(budget.totalTokens).toBe(800);
    expect(budget.remaining).toBe(9200);
    expect(budget.requestCount).toBe(1);
  });

  it('can consume up to exactly what remains, not one token more', () => {
    const budget = new ThreadBudget({ maxTokens: 1000 });
    budget.consume({ promptTokens: 400 });
    expect(budget.canConsume(500)).toBe(true);
    expect(budget.canConsume(600)).toBe(true);
    expect(budget.canConsume(601)).toBe(false);
  });

  it('is exhausted, with nothing remaining, once its maximum is consumed', () => {
    const budget = new ThreadBudget({ maxTokens: 1000 });
    budget.consume({ promptTokens: 1000 });
    expect(budget.isExhausted).toBe(true);
    expect(budget.remaining).toBe(0);
  });

  it('never reports a negative remainder when more than its maximum was consumed', () => {
    const budget = new ThreadBudget({ maxTokens: 100 });
    budget.consume({ promptTokens: 200 });
    expect(budget.remaining).toBe(0);
    expect(budget.totalTokens).toBe(200);
  });
});

describe('the thread budget registry', () => {
  beforeEach(() => resetBudgetRegistry());
  afterEach(() => resetBudgetRegistry());

  it('gives a thread it has not seen an empty budget with the default maximum', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 50000 });
    const budget = registry.getBudget('thread-1');
    expect(budget.maxTokens).toBe(50000);
    expect(budget.totalTokens).toBe(0);
  });

  it('a new default maximum applies to threads created afterwards, not to existing ones', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    const budget1 = registry.getBudget('thread-1');
    registry.configure({ maxTokensPerThread: 20000 });
    const budget2 = registry.getBudget('thread-2');
    expect(budget1.maxTokens).toBe(10000);
    expect(budget2.maxTokens).toBe(20000);
  });

  it('a check within the budget passes', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    expect(registry.checkBudget('thread-1', 5000)).toBe(true);
  });

  it('a check on an exhausted budget throws BudgetExhaustedError naming the thread, its use and its maximum', () => {
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

  it('a check whose estimate exceeds what remains throws BudgetExhaustedError', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    registry.consume('thread-1', { promptTokens: 600 });
    expect(() => registry.checkBudget('thread-1', 500)).toThrow(BudgetExhaustedError);
  });

  it("consume returns the thread's updated budget", () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    const budget = registry.consume('thread-1', { promptTokens: 100, completionTokens: 50 });
    expect(budget.totalTokens).toBe(150);
    expect(budget.requestCount).toBe(1);
  });

  it('the usage of a thread sums its requests: prompt, completion, total, remaining, request count and maximum', () => {
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

  it('lists the usage of every thread it holds', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 100 });
    registry.consume('thread-2', { promptTokens: 200 });
    const all = registry.getAllUsage();
    expect(Object.keys(all)).toHaveLength(2);
    expect(all).toHaveProperty('thread-1');
    expect(all).toHaveProperty('thread-2');
  });

  it('resetting a thread starts its budget again from zero', () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 500 });
    registry.resetThread('thread-1');
    expect(registry.getBudget('thread-1').totalTokens).toBe(0);
  });

  it("cleanup returns a thread's final budget once, then undefined", () => {
    const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10000 });
    registry.consume('thread-1', { promptTokens: 500 });
    const final = registry.cleanupThread('thread-1');
    expect(final!.totalTokens).toBe(500);
    expect(registry.cleanupThread('thread-1')).toBeUndefined();
  });

  it('the global registry is one shared instance', () => {
    expect(getBudgetRegistry()).toBe(getBudgetRegistry());
  });

  it('configuring the global registry sets the default maximum of its new threads', () => {
    configureBudgetRegistry({ maxTokensPerThread: 75000 });
    expect(getBudgetRegistry().getBudget('new-thread').maxTokens).toBe(75000);
  });
});

describe("cleaning up a finished thread's budget", () => {
  beforeEach(() => resetBudgetRegistry());
  afterEach(() => resetBudgetRegistry());

  it("cleanup returns the thread's final counts", () => {
    const registry = new ThreadBudgetRegistry();
    registry.consume('thread-1', { promptTokens: 500, completionTokens: 200 });
    const final = registry.cleanupThread('thread-1');
    expect(final).toBeDefined();
    expect(final!.promptTokens).toBe(500);
    expect(final!.completionTokens).toBe(200);
    expect(final!.totalTokens).toBe(700);
  });

  it('after cleanup the registry holds neither the thread nor its usage', () => {
    const registry = new ThreadBudgetRegistry();
    registry.consume('thread-1', { promptTokens: 500, completionTokens: 200 });
    registry.cleanupThread('thread-1');
    expect(registry.hasBudget('thread-1')).toBe(false);
    expect(registry.getUsage('thread-1')).toBeUndefined();
  });

  it('cleanup of an unknown thread returns undefined', () => {
    expect(new ThreadBudgetRegistry().cleanupThread('nonexistent')).toBeUndefined();
  });

  it('cleanup through the global registry returns the final budget and forgets the thread', () => {
    configureBudgetRegistry({ maxTokensPerThread: 10000 });
    const registry = getBudgetRegistry();
    registry.consume('test-thread', { promptTokens: 1000, completionTokens: 500 });
    expect(registry.hasBudget('test-thread')).toBe(true);
    expect(registry.cleanupThread('test-thread')!.totalTokens).toBe(1500);
    expect(registry.hasBudget('test-thread')).toBe(false);
  });

  it('a registry built without options gives each thread 100 000 tokens', () => {
    expect(new ThreadBudgetRegistry().getBudget('t').maxTokens).toBe(100_000);
  });
});
