import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ThreadBudgetRegistry } from '../../src/budget/registry.js';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { MockBackend } from '../../src/providers/mock.js';
import { HandlerTimeoutError, MessageRejectedError } from '../../src/pump/errors.js';
import { MessagePump } from '../../src/pump/pump.js';
import type { ThreadEvent, ThreadHandle, ThreadStatus } from '../../src/pump/types.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { activeTimers } from './support.js';

function setup(pumpOptions: Omit<ConstructorParameters<typeof MessagePump>[0] & object, 'router' | 'ledger'> = {}) {
  const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 100_000 });
  const ledger = new MemoryBudgetLedger({ registry });
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const router = new LLMRouter({
    backends: [
      new MockBackend({ name: 'fast', models: ['fast'], seed: 1, completionTokens: 20 }),
      new MockBackend({ name: 'slow', models: ['slow'], seed: 2, latencyMs: 60_000 }),
    ],
    ledger,
    tracker,
    retries: { maxAttempts: 1 },
  });
  const pump = new MessagePump({ router, ...pumpOptions });
  return { registry, ledger, tracker, events, router, pump };
}

const say = (text: string) => [{ role: 'user' as const, content: text }];

describe('MessagePump with LLMRouter and MockBackend', () => {
  it("uses the router's ledger and meters every call to the thread and agent", async () => {
    const { pump, events, registry } = setup();
    pump.register('a', {
      schema: z.object({ q: z.string() }),
      peers: ['b'],
      handler: async (p, ctx) => {
        if (ctx.kind === 'response') return { respond: p.q };
        const r = await ctx.complete({ model: 'fast', messages: say(p.q), maxTokens: 50 });
        expect(r.backend).toBe('fast');
        return { to: 'b', payload: { q: r.content ?? '' } };
      },
    });
    pump.register('b', {
      schema: z.object({ q: z.string() }),
      handler: async (p, ctx) => {
        const r = await ctx.complete({ model: 'fast', messages: say(p.q), maxTokens: 50, metadata: { step: 'b' } });
        return { respond: { q: `${r.usage.totalTokens}` } };
      },
    });
    const r = await pump.run('a', { q: 'hello' }, { metadata: { org_id: 'acme' }, maxTokens: 5_000 });
    expect(r.status).toBe('completed');
    expect(events.map((e) => [e.threadId, e.agentId])).toEqual([[r.threadId, 'a'], [r.threadId, 'b']]);
    expect(events[1]!.metadata).toEqual({ step: 'b', org_id: 'acme' });
    const total = events.reduce((n, e) => n + e.totalTokens, 0);
    expect(r.usage).toMatchObject({ totalTokens: total, requestCount: 2, maxTokens: 5_000, reservedTokens: 0 });
    expect(registry.size).toBe(0);
  });

  it('warns at 75, 90 and 95 % the agent whose calls crossed them, each before its next step', async () => {
    const { pump } = setup();
    const ROUNDS = 20;
    const delivered: string[][] = [];
    pump.register('spender', {
      schema: z.object({ round: z.number() }),
      peers: ['spender'],
      handler: async (p, ctx) => {
        if (ctx.kind === 'response' || p.round === ROUNDS) return { respond: p };
        delivered.push(ctx.warnings.map((w) => `${w.threshold}/${w.severity}`));
        await ctx.complete({ model: 'fast', messages: say('x'), maxTokens: 30 });
        return { to: 'spender', payload: { round: p.round + 1 } };
      },
    });
    // Every call costs the same; with this budget, call 16 crosses 75 %, call 19 90 % and call 20 95 %.
    const probe = await pump.run('spender', { round: ROUNDS - 1 });
    const perCall = probe.usage!.totalTokens;
    delivered.length = 0;
    const r = await pump.run('spender', { round: 0 }, { maxTokens: Math.ceil((perCall * ROUNDS) / 0.97) });
    expect(r.status).toBe('completed');
    expect(r.warnings.map((w) => w.severity)).toEqual(['warning', 'critical', 'final']);
    // Each warning reaches the agent at the step after the call that crossed it (the last at the end).
    expect(delivered[16]).toEqual(['75/warning']);
    expect(delivered[19]).toEqual(['90/critical']);
    expect(delivered.flat()).toEqual(['75/warning', '90/critical']);
    for (const w of r.warnings) {
      expect(w.agent).toBe('spender');
      expect(w.usedTokens + w.remainingTokens).toBe(w.maxTokens);
      expect(w.message).toMatch(/^Thread budget \d+(\.\d+)?% used \([\d,]+ of [\d,]+ tokens, [\d,]+ left\): /);
    }
  });

  it('ends budget_exhausted when the router refuses a call', async () => {
    const { pump, registry } = setup();
    pump.register('a', {
      schema: z.unknown(),
      handler: async (_p, ctx) => {
        for (;;) await ctx.complete({ model: 'fast', messages: say('more'), maxTokens: 40 });
      },
    });
    const r = await pump.run('a', null, { maxTokens: 300 });
    expect(r.status).toBe('budget_exhausted');
    expect(r.error).toBeInstanceOf(BudgetExhaustedError);
    expect(r.usage!.totalTokens).toBeGreaterThan(0);
    expect(r.usage!.totalTokens).toBeLessThanOrEqual(300);
    expect(registry.size).toBe(0);
  });

  it('runs 10 000 threads with mixed outcomes and leaves nothing behind', async () => {
    const { pump, registry, ledger } = setup({ maxConcurrentThreads: 128, maxQueue: 256 });
    const timersBefore = activeTimers();
    const Job = z.object({ kind: z.enum(['ok', 'fail', 'slow', 'exhaust', 'undeclared', 'schema']), i: z.number() });
    pump.register('entry', {
      schema: Job,
      peers: ['worker'],
      handler: async (p, ctx) => {
        if (ctx.kind === 'response') return { respond: p.i };
        if (p.kind === 'undeclared') return { to: 'sleeper', payload: p };
        await ctx.complete({ model: 'fast', messages: say(`job ${p.i}`), maxTokens: p.kind === 'exhaust' ? 500 : 30 });
        if (p.kind === 'fail') throw new Error(`job ${p.i} failed`);
        return { to: 'worker', payload: p };
      },
    });
    pump.register('worker', {
      schema: Job,
      concurrency: 16,
      handler: async (p, ctx) => {
        await ctx.complete({ model: 'fast', messages: say(`work ${p.i}`), maxTokens: 30 });
        return { respond: p };
      },
    });
    pump.register('sleeper', {
      schema: Job,
      timeoutMs: 15,
      handler: async (p, ctx) => {
        await ctx.complete({ model: 'slow', messages: say(`nap ${p.i}`), maxTokens: 30 });
      },
    });
    const kinds = ['ok', 'fail', 'slow', 'exhaust', 'undeclared', 'schema'] as const;
    const expected: Record<(typeof kinds)[number], ThreadStatus> = {
      ok: 'completed',
      fail: 'failed',
      slow: 'timed_out',
      exhaust: 'budget_exhausted',
      undeclared: 'rejected',
      schema: 'rejected',
    };
    const seen: ThreadEvent[] = [];
    const off = pump.on('thread', (e) => seen.push(e));
    const handles: { kind: (typeof kinds)[number]; handle: ThreadHandle }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const kind = kinds[i % kinds.length]!;
      const agent = kind === 'slow' ? 'sleeper' : 'entry';
      const payload = kind === 'schema' ? { kind, i: String(i) } : { kind, i };
      handles.push({ kind, handle: await pump.start(agent, payload, { maxTokens: kind === 'exhaust' ? 200 : 2_000 }) });
    }
    const results = await Promise.all(handles.map((h) => h.handle.done));
    const counts: Record<string, number> = {};
    results.forEach((r, i) => {
      const kind = handles[i]!.kind;
      expect(r.status, `${kind}: ${r.error?.message}`).toBe(expected[kind]);
      counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (kind === 'slow') expect(r.error).toBeInstanceOf(HandlerTimeoutError);
      if (kind === 'undeclared') expect(r.error).toMatchObject({ reason: 'undeclared_peer' });
      if (kind === 'schema') expect((r.error as MessageRejectedError).path).toBe('i');
      if (kind === 'ok') expect(r.usage).toMatchObject({ requestCount: 2, reservedTokens: 0 });
      if (kind === 'slow') expect(r.usage).toMatchObject({ requestCount: 0, reservedTokens: 0 });
    });
    expect(counts).toEqual({ completed: 1667, failed: 1667, timed_out: 1667, budget_exhausted: 1667, rejected: 3332 });
    expect(seen).toHaveLength(10_000);
    expect(new Set(seen.map((e) => e.threadId)).size).toBe(10_000);

    // Nothing left behind: no budget, no reservation, no pump state, no timer, no listener.
    for (const r of results) expect(await ledger.usage(r.threadId)).toBeUndefined();
    expect(registry.size).toBe(0);
    expect(registry.getAllUsage()).toEqual({});
    off();
    expect(pump.stats()).toEqual({
      activeThreads: 0,
      queuedThreads: 0,
      waitingStarts: 0,
      threads: 0,
      runningSteps: 0,
      waitingForAgent: 0,
      inFlightCalls: 0,
      timers: 0,
      listeners: 0,
      agents: 3,
    });
    expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
  }, 60_000);
});
