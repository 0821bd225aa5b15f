import { describe, expect, it } from 'vitest';
import { ThreadBudgetRegistry } from '../../src/budget/registry.js';

describe('registry options', () => {
  it('bad thresholds are an ordinary problem, named after the options before them', () => {
    expect(() => new ThreadBudgetRegistry({ maxThreads: 0, thresholds: [{ percent: 200, severity: 'warning' }] })).toThrow(
      'maxThreads: must be an integer >= 1 (got 0)',
    );
    expect(() => new ThreadBudgetRegistry({ thresholds: [{ percent: 200, severity: 'warning' }] })).toThrow(
      'thresholds[0].percent: must be a number in (0, 100] (got 200)',
    );
  });

  it('options that are not an object are named options', () => {
    expect(() => new ThreadBudgetRegistry(null as never)).toThrow('options: must be an object (got null)');
  });
});
