import { describe, expect, it } from 'vitest';
import { ScriptBatcher } from '../../../../src/stores/ledgers/redis/script-batcher.js';

describe('ScriptBatcher', () => {
  it('sends the operations of one tick as one call, keys then arguments, and hands each its reply', async () => {
    const calls: Array<[string[], (string | number)[]]> = [];
    const batcher = new ScriptBatcher(async (keys, args) => {
      calls.push([keys, [...args]]);
      return keys.flatMap((k) => [1, `r-${k}`]);
    }, 10);
    const replies = await Promise.all([batcher.push('a', [1]), batcher.push('b', [2, 'x']), batcher.push('c', [3])]);
    expect(replies).toEqual([['r-a'], ['r-b'], ['r-c']]);
    expect(calls).toEqual([[['a', 'b', 'c'], [1, 2, 'x', 3]]]);
    // A later tick makes a new call.
    expect(await batcher.push('d', [4])).toEqual(['r-d']);
    expect(calls).toHaveLength(2);
  });

  it('splits at maxBatch, keeping order', async () => {
    const sizes: number[] = [];
    const batcher = new ScriptBatcher(async (keys, args) => {
      sizes.push(keys.length);
      // Replies of different lengths: operation i gets i values.
      return args.flatMap((a) => [Number(a), ...Array.from({ length: Number(a) }, () => a)]);
    }, 4);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.push('k', [i])));
    expect(replies).toEqual(Array.from({ length: 10 }, (_, i) => Array.from({ length: i }, () => i)));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('sends early, before the tick ends, once the queue is as large as what is in flight (at least 16)', async () => {
    const sizes: number[] = [];
    const pending: Array<() => void> = [];
    const batcher = new ScriptBatcher(
      (keys) =>
        new Promise((resolve) => {
          sizes.push(keys.length);
          pending.push(() => resolve(keys.flatMap((k) => [1, k])));
        }),
      128,
    );
    const all = Promise.all(Array.from({ length: 40 }, (_, i) => batcher.push(`k${i}`, [i])));
    // Sent synchronously while queueing: 16 (nothing in flight), then 16 (16 in flight); the rest waits.
    expect(sizes).toEqual([16, 16]);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(sizes).toEqual([16, 16, 8]);
    for (const done of pending) done();
    expect(await all).toEqual(Array.from({ length: 40 }, (_, i) => [`k${i}`]));
  });

  it("rejects every operation of a failed batch with the batch's error, and of a malformed reply", async () => {
    const boom = new Error('connection lost');
    const failing = new ScriptBatcher(async () => {
      throw boom;
    }, 8);
    const outcomes = await Promise.allSettled([failing.push('k', [1]), failing.push('k', [2])]);
    expect(outcomes).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
    for (const reply of [[1, 'only one'], [1, 'a', 2, 'b'], [1, 'a', 1, 'b', 'extra'], ['x', 'a', 1, 'b'], 'not an array']) {
      const short = new ScriptBatcher(async () => reply, 8);
      const bad = await Promise.allSettled([short.push('k', [1]), short.push('k', [2])]);
      for (const o of bad) {
        expect(o.status).toBe('rejected');
        expect(String((o as PromiseRejectedResult).reason)).toContain('expected 2 length-prefixed replies');
      }
    }
  });
});
