// Ported from xml-pipeline tests/test_token_budget.py (TestUsageTracker): every case kept; names describe the behaviour.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageTracker, resetUsageTracker, getUsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';

describe('the usage tracker', () => {
  beforeEach(() => resetUsageTracker());
  afterEach(() => resetUsageTracker());

  it('record returns an event with the thread, agent, model, summed total and a timestamp', () => {
    const tracker = new UsageTracker();
    const event = tracker.record({
      threadId: 'thread-1', agentId: 'greeter', model: 'grok-4.1', provider: 'xai',
      promptTokens: 500, completionTokens: 200, latencyMs: 150.5,
    });
    expect(event.threadId).toBe('thread-1');
    expect(event.agentId).toBe('greeter');
    expect(event.model).toBe('grok-4.1');
    expect(event.totalTokens).toBe(700);
    expect(event.timestamp).toBeTypeOf('number');
  });

  it('record prices a known model: 1M prompt and 1M completion tokens of grok-4.1 cost $18', () => {
    const tracker = new UsageTracker();
    const event = tracker.record({
      threadId: 'thread-1', agentId: 'agent', model: 'grok-4.1', provider: 'xai',
      promptTokens: 1_000_000, completionTokens: 1_000_000, latencyMs: 1000,
    });
    expect(event.estimatedCost).toBe(18.0);
    expect(event.costNanos).toBe(18_000_000_000);
  });

  it('a subscriber receives each recorded event', () => {
    const tracker = new UsageTracker();
    const received: UsageEvent[] = [];
    tracker.subscribe((e) => received.push(e));
    tracker.record({ threadId: 't1', agentId: 'agent', model: 'gpt-4o', provider: 'openai',
      promptTokens: 100, completionTokens: 50, latencyMs: 50 });
    expect(received).toHaveLength(1);
    expect(received[0]!.threadId).toBe('t1');
  });

  it('an unsubscribed callback receives no further events', () => {
    const tracker = new UsageTracker();
    const received: UsageEvent[] = [];
    const callback = (e: UsageEvent) => received.push(e);
    tracker.subscribe(callback);
    tracker.record({ threadId: 't1', agentId: null, model: 'm', provider: 'p', promptTokens: 10, completionTokens: 10, latencyMs: 10 });
    tracker.unsubscribe(callback);
    tracker.record({ threadId: 't2', agentId: null, model: 'm', provider: 'p', promptTokens: 10, completionTokens: 10, latencyMs: 10 });
    expect(received).toHaveLength(1);
  });

  it('totals sum tokens and requests over all events and average the latency', () => {
    const tracker = new UsageTracker();
    tracker.record({ threadId: 't1', agentId: 'a1', model: 'm1', provider: 'p', promptTokens: 100, completionTokens: 50, latencyMs: 100 });
    tracker.record({ threadId: 't2', agentId: 'a2', model: 'm2', provider: 'p', promptTokens: 200, completionTokens: 100, latencyMs: 200 });
    const totals = tracker.getTotals();
    expect(totals.promptTokens).toBe(300);
    expect(totals.completionTokens).toBe(150);
    expect(totals.totalTokens).toBe(450);
    expect(totals.requestCount).toBe(2);
    expect(totals.avgLatencyMs).toBe(150.0);
  });

  it("totals per agent count only that agent's events", () => {
    const tracker = new UsageTracker();
    tracker.record({ threadId: 't1', agentId: 'greeter', model: 'm', provider: 'p', promptTokens: 100, completionTokens: 50, latencyMs: 100 });
    tracker.record({ threadId: 't2', agentId: 'greeter', model: 'm', provider: 'p', promptTokens: 100, completionTokens: 50, latencyMs: 100 });
    tracker.record({ threadId: 't3', agentId: 'shouter', model: 'm', provider: 'p', promptTokens: 200, completionTokens: 100, latencyMs: 200 });
    const greeter = tracker.getAgentTotals('greeter');
    const shouter = tracker.getAgentTotals('shouter');
    expect(greeter.totalTokens).toBe(300);
    expect(greeter.requestCount).toBe(2);
    expect(shouter.totalTokens).toBe(300);
    expect(shouter.requestCount).toBe(1);
  });

  it("totals per model count only that model's events", () => {
    const tracker = new UsageTracker();
    tracker.record({ threadId: 't1', agentId: 'a', model: 'grok-4.1', provider: 'xai', promptTokens: 1000, completionTokens: 500, latencyMs: 100 });
    tracker.record({ threadId: 't2', agentId: 'a', model: 'claude-sonnet-4', provider: 'anthropic', promptTokens: 500, completionTokens: 250, latencyMs: 100 });
    expect(tracker.getModelTotals('grok-4.1').totalTokens).toBe(1500);
    expect(tracker.getModelTotals('claude-sonnet-4').totalTokens).toBe(750);
  });

  it('metadata reaches subscribers unchanged', () => {
    const tracker = new UsageTracker();
    const received: UsageEvent[] = [];
    tracker.subscribe((e) => received.push(e));
    tracker.record({ threadId: 't1', agentId: 'a', model: 'm', provider: 'p', promptTokens: 10, completionTokens: 10,
      latencyMs: 10, metadata: { org_id: 'org-123', user_id: 'user-456' } });
    expect(received[0]!.metadata.org_id).toBe('org-123');
    expect(received[0]!.metadata.user_id).toBe('user-456');
  });

  it('the global tracker is one shared instance until it is reset', () => {
    const a = getUsageTracker();
    expect(getUsageTracker()).toBe(a);
    resetUsageTracker();
    expect(getUsageTracker()).not.toBe(a);
  });
});
