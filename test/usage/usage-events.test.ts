import { describe, expect, it } from 'vitest';
import { UsageTracker } from '../../src/usage/tracker.js';
import { TokenwardenError } from '../../src/core/errors.js';
import { newEventId, eventIdTime } from '../../src/usage/event-id.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { eventJson } from '../../src/gateway/usage-api.js';

const base = { threadId: 't', agentId: 'a', model: 'gpt-4o-mini', provider: 'openai', latencyMs: 5 };

describe('usage event ids', () => {
  it('are unique, 26-character, and sort in creation order (also within one millisecond)', () => {
    const ids = Array.from({ length: 5000 }, () => newEventId(1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const later = newEventId(1_700_000_000_500);
    expect(later > ids[ids.length - 1]!).toBe(true);
    expect(eventIdTime(later)).toBe(1_700_000_000_500);
  });
});

describe('UsageTracker beyond the seed', () => {
  it('a throwing subscriber never breaks recording and its error reaches the hook', () => {
    const errors: Array<[unknown, UsageEvent]> = [];
    const tracker = new UsageTracker({ onError: (err, event) => errors.push([err, event]) });
    const received: string[] = [];
    tracker.subscribe(() => {
      throw new Error('subscriber down');
    });
    tracker.subscribe((e) => received.push(e.id));
    const event = tracker.record({ ...base, promptTokens: 10, completionTokens: 5 });
    expect(received).toEqual([event.id]);
    expect(errors).toHaveLength(1);
    expect((errors[0]![0] as Error).message).toBe('subscriber down');
    expect(errors[0]![1]).toBe(event);
    expect(tracker.getTotals().requestCount).toBe(1);
  });

  it('subscribe returns an unsubscribe function', () => {
    const tracker = new UsageTracker();
    let n = 0;
    const stop = tracker.subscribe(() => n++);
    tracker.record({ ...base, promptTokens: 1, completionTokens: 1 });
    stop();
    tracker.record({ ...base, promptTokens: 1, completionTokens: 1 });
    expect(n).toBe(1);
  });

  it('sums money without float drift', () => {
    const tracker = new UsageTracker({ estimateCostNanos: () => 100 }); // 0.0000001 USD each
    for (let i = 0; i < 10_000; i++) tracker.record({ ...base, promptTokens: 1, completionTokens: 0 });
    expect(tracker.getTotals().totalCostNanos).toBe(1_000_000);
    expect(tracker.getTotals().totalCost).toBe(0.001);
    let float = 0;
    for (let i = 0; i < 10_000; i++) float += 0.0000001;
    expect(float).not.toBe(0.001); // what naive summing would have reported
  });

  it('unknown models cost undefined, not zero, and do not disturb totals', () => {
    const tracker = new UsageTracker();
    const e = tracker.record({ ...base, model: 'no-such-model-xyz', promptTokens: 10, completionTokens: 1 });
    expect(e.estimatedCost).toBeUndefined();
    expect(e.costNanos).toBeUndefined();
    expect(tracker.getTotals().totalCost).toBe(0);
  });

  it('gives totals per agent and per model all at once', () => {
    const tracker = new UsageTracker();
    tracker.record({ ...base, agentId: 'a1', model: 'm1', promptTokens: 1, completionTokens: 2 });
    tracker.record({ ...base, agentId: 'a2', model: 'm1', promptTokens: 3, completionTokens: 4 });
    expect(Object.keys(tracker.getAllAgentTotals()).sort()).toEqual(['a1', 'a2']);
    expect(tracker.getAllModelTotals().m1!.totalTokens).toBe(10);
  });

  it('rejects bad input naming the field', () => {
    const tracker = new UsageTracker();
    expect(() => tracker.record({ ...base, promptTokens: -1, completionTokens: 0 })).toThrow(/promptTokens: must not be negative/);
    expect(() => tracker.record({ ...base, promptTokens: 1, completionTokens: Number.NaN })).toThrow(/completionTokens/);
    expect(() => tracker.record({ ...base, model: '', promptTokens: 1, completionTokens: 1 })).toThrow(/model/);
    expect(() => tracker.record({ ...base, latencyMs: -5, promptTokens: 1, completionTokens: 1 })).toThrow(/latencyMs/);
  });
});

describe('required subscribers (durable stores)', () => {
  it('run first, and a failure fails record() without acknowledging or counting the event', () => {
    const errors: unknown[] = [];
    const tracker = new UsageTracker({ onError: (e) => errors.push(e) });
    const order: string[] = [];
    let healthy = true;
    tracker.subscribe(() => order.push('listener'));
    tracker.subscribe(
      (e) => {
        if (!healthy) throw new Error('disk full');
        order.push(`stored ${e.totalTokens}`);
      },
      { required: true },
    );
    tracker.record({ ...base, promptTokens: 2, completionTokens: 1 });
    expect(order).toEqual(['stored 3', 'listener']);
    healthy = false;
    let err: TokenwardenError | undefined;
    try {
      tracker.record({ ...base, promptTokens: 5, completionTokens: 5 });
    } catch (e) {
      err = e as TokenwardenError;
    }
    expect(err?.code).toBe('USAGE_NOT_PERSISTED');
    expect(err?.message).toContain('disk full');
    expect(order).toEqual(['stored 3', 'listener']); // the listener never saw the unstored event
    expect(tracker.getTotals().totalTokens).toBe(3);
    expect(errors).toEqual([]);
  });
});

describe('UsageTracker refuses what a store or a log would refuse (issue 11, finding 1)', () => {
  const fieldOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return (err as { field?: string }).field;
    }
    return undefined;
  };
  const ok = { ...base, promptTokens: 10, completionTokens: 5 };

  it('refuses control characters (C0, DEL, C1), lone surrogates and over-long strings in every string field', () => {
    const tracker = new UsageTracker();
    for (const bad of ['a\u0000b', 'tab\there', 'del\u007f', 'c1\u0085', 'lone\ud800', '\udc00x', 'x'.repeat(257), '']) {
      for (const field of ['threadId', 'agentId', 'model', 'provider'] as const) {
        if (bad === '' && (field === 'threadId' || field === 'agentId')) continue; // empty ids are refused too, below
        expect(fieldOf(() => tracker.record({ ...ok, [field]: bad })), `${field}=${JSON.stringify(bad)}`).toBe(field);
      }
      if (bad.length > 0 && bad.length < 257) expect(fieldOf(() => tracker.record({ ...ok, metadata: { user_id: bad } }))).toBe('metadata.user_id');
    }
    expect(fieldOf(() => tracker.record({ ...ok, threadId: '' }))).toBe('threadId');
    expect(fieldOf(() => tracker.record({ ...ok, metadata: { ['k\u0000']: 'v' } }))).toBe('metadata key');
    expect(fieldOf(() => tracker.record({ ...ok, metadata: { note: 'x'.repeat(1025) } }))).toBe('metadata.note');
    expect(tracker.record({ ...ok, model: 'modèle-日本-🙂', metadata: { note: 'ünïcode 🙂' } }).model).toBe('modèle-日本-🙂');
    expect(tracker.getTotals().requestCount).toBe(1);
  });

  it('bounds metadata: plain values only, at most 32 keys and 8 KiB of JSON', () => {
    const tracker = new UsageTracker();
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    expect(fieldOf(() => tracker.record({ ...ok, metadata: many }))).toBe('metadata');
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
    expect(fieldOf(() => tracker.record({ ...ok, metadata: big }))).toBe('metadata');
    expect(fieldOf(() => tracker.record({ ...ok, metadata: { n: Number.NaN } }))).toBe('metadata.n');
    expect(fieldOf(() => tracker.record({ ...ok, metadata: { o: { nested: 1 } } as never }))).toBe('metadata.o');
    expect(fieldOf(() => tracker.record({ ...ok, metadata: { b: 10n } as never }))).toBe('metadata.b');
  });

  it('refuses numbers beyond 2^53 and a cost that would overflow a safe integer of nano-USD', () => {
    const tracker = new UsageTracker();
    expect(fieldOf(() => tracker.record({ ...ok, promptTokens: 2 ** 53 }))).toBe('promptTokens');
    expect(fieldOf(() => tracker.record({ ...ok, completionTokens: 1e300 }))).toBe('completionTokens');
    expect(fieldOf(() => tracker.record({ ...ok, promptTokens: 2 ** 52, completionTokens: 2 ** 52 }))).toBe('totalTokens');
    expect(fieldOf(() => tracker.record({ ...ok, reasoningTokens: 2 ** 60 }))).toBe('reasoningTokens');
    expect(fieldOf(() => tracker.record({ ...ok, latencyMs: Number.POSITIVE_INFINITY }))).toBe('latencyMs');
    expect(fieldOf(() => tracker.record({ ...ok, timestamp: 9e15 }))).toBe('timestamp');
    // gpt-4o-mini is priced: 1e15 tokens cost far more than 2^53 nano-USD.
    expect(fieldOf(() => tracker.record({ ...ok, promptTokens: 1e15, completionTokens: 1e15 }))).toBe('costNanos');
    const custom = new UsageTracker({ estimateCostNanos: () => 2 ** 60 });
    expect(fieldOf(() => custom.record(ok))).toBe('costNanos');
    expect(tracker.getTotals().requestCount).toBe(0);
  });

  it('carries overspendTokens (a whole number >= 0) into the event', () => {
    const tracker = new UsageTracker();
    const over = tracker.record({ ...ok, overspendTokens: 7 });
    expect(over.overspendTokens).toBe(7);
    expect(eventJson(over).overspend_tokens).toBe(7); // the events API shows it
    expect(eventJson(tracker.record(ok))).not.toHaveProperty('overspend_tokens');
    expect(tracker.record({ ...ok, overspendTokens: 0 }).overspendTokens).toBeUndefined();
    expect(fieldOf(() => tracker.record({ ...ok, overspendTokens: -1 }))).toBe('overspendTokens');
    expect(fieldOf(() => tracker.record({ ...ok, overspendTokens: 1.5 }))).toBe('overspendTokens');
  });
});
