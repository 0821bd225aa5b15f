import { describe, expect, it } from 'vitest';
import { ScriptBatcher } from '../../src/stores/redis/script-batcher.js';

describe('ScriptBatcher', () => {
  it('sends the operations of one tick as one call, keys then arguments, and hands each its reply', async () => {
    const calls: Array<[string[], (string | number)[]]> = [];
    const batcher = new ScriptBatcher(async (keys, args) => {
      calls.push([keys, args]);
      return args.map((a) => `r-${a}`);
    }, 10);
    const replies = await Promise.all([batcher.push(['a1', 'a2'], [1]), batcher.push(['b1', 'b2'], [2]), batcher.push(['c1', 'c2'], [3])]);
    expect(replies).toEqual(['r-1', 'r-2', 'r-3']);
    expect(calls).toEqual([[['a1', 'a2', 'b1', 'b2', 'c1', 'c2'], [1, 2, 3]]]);
    // A later tick makes a new call.
    expect(await batcher.push(['d1', 'd2'], [4])).toBe('r-4');
    expect(calls).toHaveLength(2);
  });

  it('splits at maxBatch, keeping order', async () => {
    const sizes: number[] = [];
    const batcher = new ScriptBatcher(async (_keys, args) => {
      sizes.push(args.length);
      return args;
    }, 4);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.push(['k', 'h'], [i])));
    expect(replies).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sizes).toEqual([4, 4, 2]);
  });

  it("rejects every operation of a failed batch with the batch's error, and of a malformed reply", async () => {
    const boom = new Error('connection lost');
    const failing = new ScriptBatcher(async () => {
      throw boom;
    }, 8);
    const outcomes = await Promise.allSettled([failing.push(['k', 'h'], [1]), failing.push(['k', 'h'], [2])]);
    expect(outcomes).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
    const short = new ScriptBatcher(async () => ['only one'], 8);
    const bad = await Promise.allSettled([short.push(['k', 'h'], [1]), short.push(['k', 'h'], [2])]);
    for (const o of bad) {
      expect(o.status).toBe('rejected');
      expect(String((o as PromiseRejectedResult).reason)).toContain('expected 2 replies');
    }
  });
});
