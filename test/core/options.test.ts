import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integerAtLeast, unknownKey } from '../../src/core/option-schemas.js';
import { parseOptions } from '../../src/core/options.js';

const Limits = z
  .object({ maxConcurrent: integerAtLeast(1).optional(), maxQueue: integerAtLeast(0).optional() })
  .catchall(unknownKey('unknown limit'));

describe('parseOptions', () => {
  it('names an unknown key before a bad value of the same object (zod reports catchall keys last)', () => {
    expect(() => parseOptions(Limits, { maxConcurent: 4, maxQueue: -1 }, 'limits')).toThrow('limits.maxConcurent: unknown limit (got 4)');
  });

  it('names an unknown key of a nested object before that object bad values, not before an earlier option', () => {
    const Outer = z.object({ first: integerAtLeast(1).optional(), limits: Limits.optional() });
    expect(() => parseOptions(Outer, { limits: { maxQueue: -1, typo: 1 } })).toThrow('limits.typo: unknown limit (got 1)');
    expect(() => parseOptions(Outer, { first: 0, limits: { typo: 1 } })).toThrow('first: must be an integer >= 1 (got 0)');
  });

  it('reports the value a check names itself (params.got)', () => {
    const Secret = z.object({ key: z.custom<string>((v) => typeof v === 'string', { error: 'must be a string', params: { got: '[REDACTED]' } }) });
    expect(() => parseOptions(Secret, { key: 42 }, 'options')).toThrow('options.key: must be a string (got "[REDACTED]")');
  });
});
