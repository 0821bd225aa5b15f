import { describe, expect, it } from 'vitest';
import { createBudgetWarning } from '../../src/pump/budget-warning.js';
import { Fifo } from '../../src/core/fifo.js';

describe('Fifo', () => {
  it('keeps order across compactions, removals and drains', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 3000; i++) expect(q.shift()).toBe(i);
    expect(q.length).toBe(2000);
    expect(q.remove(4000)).toBe(true);
    expect(q.remove(4000)).toBe(false);
    expect(q.remove(10)).toBe(false); // already shifted
    q.push(5000);
    expect(q.length).toBe(2000);
    const rest = q.drain();
    expect(rest[0]).toBe(3000);
    expect(rest.includes(4000)).toBe(false);
    expect(rest.at(-1)).toBe(5000);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});

describe('createBudgetWarning', () => {
  it('builds a frozen warning with a sentence per severity', () => {
    const base = { threadId: 't', percent: 90, percentUsed: 92.5, usedTokens: 18_500, remainingTokens: 1_500, maxTokens: 20_000 };
    const w = createBudgetWarning({ ...base, severity: 'critical' }, 'writer');
    expect(w).toMatchObject({ type: 'budget_warning', agent: 'writer', threshold: 90, severity: 'critical' });
    expect(w.message).toBe('Thread budget 92.5% used (18,500 of 20,000 tokens, 1,500 left): wrap up now and keep further calls short.');
    expect(Object.isFrozen(w)).toBe(true);
    expect(createBudgetWarning({ ...base, severity: 'final' }, 'w').message).toMatch(/further calls may be refused\.$/);
  });
});
