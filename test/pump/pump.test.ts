import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ThreadBudgetRegistry } from '../../src/budget/registry.js';
import { BudgetExhaustedError, CallAbortedError, ConfigError, ValidationError } from '../../src/core/errors.js';
import {
  HandlerFailedError,
  HandlerTimeoutError,
  MessageRejectedError,
  PumpClosedError,
  QueueFullError,
} from '../../src/pump/errors.js';
import { MessagePump } from '../../src/pump/pump.js';
import type { HandlerContext, ThreadEvent } from '../../src/pump/types.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { LedgerCompleter, gate, sleep } from './support.js';

const Text = z.object({ text: z.string() });

function setup(options: ConstructorParameters<typeof MessagePump>[0] = {}, completer: { delayMs?: number; ignoreAbort?: boolean } = {}) {
  const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 10_000 });
  const ledger = new MemoryBudgetLedger({ registry });
  const router = new LedgerCompleter(ledger, completer);
  const pump = new MessagePump({ router, ledger, ...options });
  return { registry, ledger, router, pump };
}

describe('MessagePump: registration and options', () => {
  it('validates agent names and rejects duplicates', () => {
    const { pump } = setup();
    const def = { schema: Text, handler: () => undefined };
    pump.register('writer', def);
    expect(() => pump.register('writer', def)).toThrow(/name: an agent with this name is already registered \(got "writer"\)/);
    expect(() => pump.register('external', def)).toThrow(/reserved/);
    expect(() => pump.register('', def)).toThrow(ValidationError);
    expect(() => pump.register('1abc', def)).toThrow(/must start with a letter/);
    expect(() => pump.register('a b', def)).toThrow(/must start with a letter/);
    expect(() => pump.register('x'.repeat(65), def)).toThrow(ValidationError);
    expect(() => pump.register(42 as unknown as string, def)).toThrow(/must be an agent name/);
  });

  it('validates the definition field by field', () => {
    const { pump } = setup();
    const handler = () => undefined;
    expect(() => pump.register('a', { schema: {} as unknown as typeof Text, handler })).toThrow(/agents\.a\.schema: must be a zod schema/);
    expect(() => pump.register('b', { schema: Text, handler: 'x' as unknown as typeof handler })).toThrow(/agents\.b\.handler/);
    expect(() => pump.register('c', { schema: Text, handler, peers: ['ok', 'bad name'] })).toThrow(/agents\.c\.peers\[1\]/);
    expect(() => pump.register('d', { schema: Text, handler, timeoutMs: 0 })).toThrow(/agents\.d\.timeoutMs/);
    expect(() => pump.register('e', { schema: Text, handler, concurrency: 1.5 })).toThrow(/agents\.e\.concurrency/);
    expect(() => pump.register('f', { schema: Text, handler, onWarning: 1 as unknown as () => void })).toThrow(/agents\.f\.onWarning/);
    expect(() => pump.register('g', { schema: Text, handler, concurency: 2 } as never)).toThrow(/agents\.g\.concurency: unknown agent option/);
  });

  it('validates pump options up front', () => {
    expect(() => new MessagePump({ maxQueue: 0 })).toThrow(/maxQueue/);
    expect(() => new MessagePump({ maxConcurrentThreads: -1 })).toThrow(/maxConcurrentThreads/);
    expect(() => new MessagePump({ onFull: 'drop' as 'wait' })).toThrow(/onFull/);
    expect(() => new MessagePump({ maxDepth: 0 })).toThrow(/maxDepth/);
    expect(() => new MessagePump({ router: {} as never })).toThrow(/router/);
    expect(() => new MessagePump({ ledger: {} as never })).toThrow(/ledger/);
    expect(() => new MessagePump({ logger: {} as never })).toThrow(/logger/);
    expect(() => new MessagePump({ maxConcurrency: 2 } as never)).toThrow(/maxConcurrency: unknown MessagePump option/);
    const ledger = new MemoryBudgetLedger();
    const router = { ledger: new MemoryBudgetLedger(), complete: async () => ({ content: '', model: 'm', finishReason: null }) };
    expect(() => new MessagePump({ router, ledger })).toThrow(ConfigError);
    // The router's own ledger is used when none is given.
    expect(() => new MessagePump({ router })).not.toThrow();
  });

  it('validates start() arguments', async () => {
    const { pump } = setup();
    pump.register('a', { schema: Text, handler: () => undefined });
    await expect(pump.start('nope', {})).rejects.toThrow(/agent: is not a registered agent \(registered: a\)/);
    await expect(pump.start('a', {}, { maxTokens: 0 })).rejects.toThrow(/options\.maxTokens/);
    await expect(pump.start('a', {}, { budget: 5 } as never)).rejects.toThrow(/options\.budget: unknown start\(\) option/);
    await expect(pump.start('a', {}, { metadata: { x: {} as never } })).rejects.toThrow(/options\.metadata\.x/);
    const noLedger = new MessagePump();
    noLedger.register('a', { schema: Text, handler: () => undefined });
    await expect(noLedger.start('a', { text: '' }, { maxTokens: 10 })).rejects.toThrow(/needs a budget ledger/);
  });
});

describe('MessagePump: messages and threads', () => {
  it('runs a call chain: requests push, responses pop back to the caller', async () => {
    const { pump, registry } = setup();
    const seen: string[] = [];
    const Planner = z.union([z.object({ topic: z.string() }), z.object({ notes: z.array(z.string()) }), z.object({ draft: z.string() })]);
    pump.register('planner', {
      schema: Planner,
      peers: ['researcher', 'writer'],
      handler: (p, ctx) => {
        seen.push(`planner<-${ctx.from}:${ctx.kind}:${ctx.depth}`);
        if ('topic' in p) return { to: 'researcher', payload: { question: p.topic } };
        if ('notes' in p) return { to: 'writer', payload: { notes: p.notes } };
        return { respond: { article: p.draft } };
      },
    });
    pump.register('researcher', {
      schema: z.object({ question: z.string() }),
      handler: async (p, ctx) => {
        seen.push(`researcher<-${ctx.from}:${ctx.kind}:${ctx.depth}`);
        return { respond: { notes: [`${p.question} fact`] } };
      },
    });
    pump.register('writer', {
      schema: z.object({ notes: z.array(z.string()) }),
      handler: (p, ctx) => {
        seen.push(`writer<-${ctx.from}:${ctx.kind}:${ctx.depth}`);
        return { respond: { draft: p.notes.join('; ') } };
      },
    });
    const r = await pump.run('planner', { topic: 'tides' });
    expect(r.status).toBe('completed');
    expect(r.result).toEqual({ article: 'tides fact' });
    expect(r.steps).toBe(5);
    expect(seen).toEqual([
      'planner<-external:request:0',
      'researcher<-planner:request:1',
      'planner<-researcher:response:0',
      'writer<-planner:request:1',
      'planner<-writer:response:0',
    ]);
    expect(registry.size).toBe(0);
  });

  it('completes without a result when a handler returns nothing', async () => {
    const { pump } = setup();
    pump.register('a', { schema: Text, handler: () => null });
    const r = await pump.run('a', { text: 'x' });
    expect(r).toMatchObject({ status: 'completed', steps: 1 });
    expect('result' in r).toBe(false);
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('gives every thread an opaque random id', async () => {
    const { pump } = setup();
    pump.register('a', { schema: Text, handler: () => undefined });
    const ids = await Promise.all([1, 2, 3].map(async () => (await pump.start('a', { text: '' })).threadId));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects a payload failing the schema before the handler, naming agent and field', async () => {
    const { pump } = setup();
    const handler = vi.fn(() => undefined);
    pump.register('writer', { schema: z.object({ outline: z.array(z.object({ title: z.string() })) }), handler });
    const r = await pump.run('writer', { outline: [{ title: 'ok' }, { title: 7 }] });
    expect(r.status).toBe('rejected');
    expect(handler).not.toHaveBeenCalled();
    expect(r.error).toBeInstanceOf(MessageRejectedError);
    const err = r.error as MessageRejectedError;
    expect(err).toMatchObject({ agent: 'writer', from: 'external', reason: 'schema', path: 'outline[1].title', code: 'MESSAGE_REJECTED' });
    expect(err.message).toMatch(/Agent "writer" rejected the request from "external": field "outline\[1\]\.title": .*expected string/);
  });

  it('names a failing field whose key is not an identifier in brackets, and the payload itself as (root)', async () => {
    const { pump } = setup();
    pump.register('tagger', { schema: z.object({ headers: z.object({ 'x-id': z.string() }) }), handler: () => undefined });
    pump.register('counter', { schema: z.number(), handler: () => undefined });
    const r = await pump.run('tagger', { headers: { 'x-id': 7 } });
    expect(r.error).toMatchObject({ reason: 'schema', path: 'headers["x-id"]' });
    expect(r.error?.message).toContain('field "headers[\\"x-id\\"]"');
    const root = await pump.run('counter', 'seven');
    expect(root.error).toMatchObject({ reason: 'schema', path: '(root)' });
    expect(root.error?.message).toContain('field "(root)"');
  });

  it('rejects a peer message failing the receiver schema, naming receiver and sender', async () => {
    const { pump } = setup();
    const writer = vi.fn(() => undefined);
    pump.register('planner', { schema: Text, peers: ['writer'], handler: () => ({ to: 'writer', payload: { notes: 'x' } }) });
    pump.register('writer', { schema: z.object({ notes: z.array(z.string()) }), handler: writer });
    const r = await pump.run('planner', { text: 'x' });
    expect(r.status).toBe('rejected');
    expect(writer).not.toHaveBeenCalled();
    expect(r.error).toMatchObject({ agent: 'writer', from: 'planner', path: 'notes' });
    expect(r.error?.message).toContain('Agent "writer" rejected the request from "planner": field "notes"');
  });

  it('validates responses against the caller schema too', async () => {
    const { pump } = setup();
    pump.register('a', { schema: Text, peers: ['b'], handler: () => ({ to: 'b', payload: { text: 'q' } }) });
    pump.register('b', { schema: Text, handler: () => ({ respond: { wrong: true } }) });
    const r = await pump.run('a', { text: 'x' });
    expect(r.status).toBe('rejected');
    expect(r.error?.message).toContain('Agent "a" rejected the response from "b": field "text"');
  });

  it('rejects sending to an undeclared or unregistered peer', async () => {
    const { pump } = setup();
    const b = vi.fn(() => undefined);
    pump.register('a', { schema: Text, peers: ['c'], handler: (p) => ({ to: p.text, payload: { text: '' } }) });
    pump.register('b', { schema: Text, handler: b });
    const r1 = await pump.run('a', { text: 'b' });
    expect(r1.status).toBe('rejected');
    expect(r1.error).toMatchObject({ reason: 'undeclared_peer', agent: 'a' });
    expect(r1.error?.message).toBe('Agent "a" may not send to "b": not one of its declared peers (c)');
    expect(b).not.toHaveBeenCalled();
    const r2 = await pump.run('a', { text: 'c' });
    expect(r2.error).toMatchObject({ reason: 'unknown_agent' });
    expect(r2.error?.message).toContain('"c", which is not a registered agent');
  });

  it('rejects malformed results, including an attempt to set the sender', async () => {
    const { pump } = setup();
    const b = vi.fn(() => undefined);
    const results: unknown[] = [{ to: 'b', payload: {}, from: 'external' }, { respond: 1, to: 'b' }, 'text', { foo: 1 }, { to: 5 }];
    pump.register('a', { schema: z.object({ i: z.number() }), peers: ['b'], handler: (p) => results[p.i] as never });
    pump.register('b', { schema: z.unknown(), handler: b });
    const out = await Promise.all(results.map((_, i) => pump.run('a', { i })));
    for (const r of out) {
      expect(r.status).toBe('rejected');
      expect(r.error).toMatchObject({ reason: 'invalid_result', agent: 'a' });
    }
    expect(out[0]!.error?.message).toContain('unexpected key "from" (the pump sets the sender)');
    expect(b).not.toHaveBeenCalled();
  });

  it('gives each delivery a frozen context whose sender cannot be forged', async () => {
    const { pump } = setup();
    const contexts: HandlerContext[] = [];
    pump.register('a', {
      schema: Text,
      peers: ['b'],
      handler: (_p, ctx) => {
        contexts.push(ctx);
        expect(() => {
          (ctx as { from: string }).from = 'admin';
        }).toThrow(TypeError);
        return ctx.kind === 'request' ? { to: 'b', payload: { text: '' } } : undefined;
      },
    });
    pump.register('b', { schema: Text, handler: (_p, ctx) => (contexts.push(ctx), { respond: { text: 'r' } }) });
    const [r1, r2] = await Promise.all([pump.run('a', { text: '' }), pump.run('a', { text: '' })]);
    expect(contexts).toHaveLength(6);
    expect(new Set(contexts).size).toBe(6);
    for (const ctx of contexts) expect(Object.isFrozen(ctx)).toBe(true);
    expect(contexts.filter((c) => c.threadId === r1.threadId)).toHaveLength(3);
    expect(contexts.filter((c) => c.threadId === r2.threadId)).toHaveLength(3);
    expect(contexts.filter((c) => c.self === 'b').map((c) => c.from)).toEqual(['a', 'a']);
  });

  it('binds ctx.complete to the thread, agent and thread metadata', async () => {
    const { pump, router } = setup();
    let other = '';
    pump.register('a', {
      schema: Text,
      handler: async (_p, ctx) => {
        await ctx.complete({ model: 'm', messages: [], metadata: { org_id: 'forged', note: 'n' } });
        await expect(ctx.complete({ model: 'm', messages: [], threadId: other } as never)).rejects.toThrow(/request\.threadId: is bound by the pump/);
        await expect(ctx.complete({ model: 'm', messages: [], agentId: 'b' } as never)).rejects.toThrow(/request\.agentId/);
        return { respond: (await ctx.usage())?.totalTokens };
      },
    });
    other = (await pump.start('a', { text: '' })).threadId;
    const r = await pump.run('a', { text: '' }, { metadata: { org_id: 'acme' }, maxTokens: 500 });
    expect(r.result).toBe(20);
    const call = router.calls.find((c) => c.threadId === r.threadId)!;
    expect(call).toMatchObject({ agentId: 'a', metadata: { org_id: 'acme', note: 'n' } });
    expect(call.signal).toBeInstanceOf(AbortSignal);
    expect(r.usage).toMatchObject({ totalTokens: 20, maxTokens: 500, requestCount: 1, reservedTokens: 0 });
  });

  it('refuses ctx.complete after the step ended, and aborts the step signal', async () => {
    const { pump } = setup();
    let saved: HandlerContext | undefined;
    pump.register('a', { schema: Text, handler: (_p, ctx) => void (saved = ctx) });
    await pump.run('a', { text: '' });
    expect(saved!.signal.aborted).toBe(true);
    await expect(saved!.complete({ model: 'm', messages: [] })).rejects.toBeInstanceOf(CallAbortedError);
  });

  it('ends failed when a handler throws, keeping the cause', async () => {
    const { pump } = setup();
    const boom = new Error('boom');
    pump.register('a', { schema: Text, handler: () => { throw boom; } });
    pump.register('b', { schema: Text, handler: async () => Promise.reject('plain string') });
    const r = await pump.run('a', { text: '' });
    expect(r.status).toBe('failed');
    expect(r.error).toBeInstanceOf(HandlerFailedError);
    expect(r.error?.message).toBe('Agent "a" failed: boom');
    expect(r.error?.cause).toBe(boom);
    const r2 = await pump.run('b', { text: '' });
    expect(r2.error?.message).toBe('Agent "b" failed: plain string');
  });

  it('times out a slow handler, aborting its in-flight calls and releasing their holds', async () => {
    const { pump, registry } = setup({}, { delayMs: 60_000 });
    let signal: AbortSignal | undefined;
    let callError: unknown;
    pump.register('slow', {
      schema: Text,
      timeoutMs: 300,
      handler: async (_p, ctx) => {
        signal = ctx.signal;
        try {
          await ctx.complete({ model: 'm', messages: [], maxTokens: 500 });
        } catch (err) {
          callError = err;
        }
        await new Promise(() => {}); // never returns by itself
      },
    });
    const { threadId, done } = await pump.start('slow', { text: '' });
    await vi.waitFor(() => expect(registry.getUsage(threadId)?.reservedTokens).toBe(510), { interval: 2 });
    const r = await done;
    expect(r.status).toBe('timed_out');
    expect(r.error).toBeInstanceOf(HandlerTimeoutError);
    expect(r.error?.message).toBe(`Agent "slow" timed out after 300 ms in thread ${threadId}`);
    expect(signal?.aborted).toBe(true);
    expect(callError).toBeInstanceOf(CallAbortedError);
    expect(r.usage).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
    expect(registry.size).toBe(0);
    expect(pump.stats()).toMatchObject({ threads: 0, timers: 0, inFlightCalls: 0, runningSteps: 0 });
  });

  it('waits for late calls only up to abortGraceMs, then ends budgets they re-create', async () => {
    const registry = new ThreadBudgetRegistry();
    const ledger = new MemoryBudgetLedger({ registry });
    const late = gate();
    // A router that ignores aborts and reserves late: the worst case for leaks.
    const router = {
      complete: async (req: { threadId?: string }) => {
        await late.promise;
        const hold = await ledger.reserve(req.threadId!, 5);
        await ledger.settle(hold, { promptTokens: 5 });
        return { content: 'x', model: 'm', finishReason: 'stop' };
      },
    };
    const pump = new MessagePump({ router, ledger, abortGraceMs: 20 });
    const warn = vi.fn();
    const pumpWithLog = new MessagePump({ router, ledger, abortGraceMs: 20, logger: { debug() {}, warn } });
    for (const p of [pump, pumpWithLog]) p.register('a', { schema: Text, handler: (_p, ctx) => void ctx.complete({ model: 'm', messages: [] }).catch(() => {}) });
    const r = await pumpWithLog.run('a', { text: '' });
    expect(r.status).toBe('completed');
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('abortGraceMs'), expect.objectContaining({ threadId: r.threadId }));
    expect(pumpWithLog.stats().inFlightCalls).toBe(1);
    late.open();
    await vi.waitFor(() => expect(pumpWithLog.stats().inFlightCalls).toBe(0));
    await vi.waitFor(() => expect(registry.hasBudget(r.threadId)).toBe(false));
  });
});

describe('MessagePump: budgets', () => {
  it('warns the agent whose call crossed a threshold, before its next step', async () => {
    const { pump } = setup();
    const hook = vi.fn();
    const seen: Record<string, string[][]> = { a: [], b: [] };
    const events: unknown[] = [];
    pump.on('warning', (w) => events.push(w));
    pump.register('a', {
      schema: Text,
      peers: ['b'],
      onWarning: hook,
      handler: async (_p, ctx) => {
        seen.a!.push(ctx.warnings.map((w) => `${w.threshold}:${w.severity}`));
        if (ctx.kind === 'response') return { respond: 'done' };
        await ctx.complete({ model: 'm', messages: [], maxTokens: 770 }); // 780 of 1000: crosses 75 %
        return { to: 'b', payload: { text: '' } };
      },
    });
    pump.register('b', {
      schema: Text,
      handler: async (_p, ctx) => {
        seen.b!.push(ctx.warnings.map((w) => String(w.threshold)));
        await ctx.complete({ model: 'm', messages: [], maxTokens: 150 }); // 940: crosses 90 %
        return { respond: { text: 'r' } };
      },
    });
    const r = await pump.run('a', { text: '' }, { maxTokens: 1000 });
    expect(r.status).toBe('completed');
    expect(seen.a).toEqual([[], ['75:warning']]);
    expect(seen.b).toEqual([[]]);
    expect(hook).toHaveBeenCalledTimes(1);
    expect(r.warnings.map((w) => [w.agent, w.threshold])).toEqual([['a', 75], ['b', 90]]);
    expect(events).toEqual(r.warnings);
    expect(r.warnings[0]).toEqual({
      type: 'budget_warning',
      threadId: r.threadId,
      agent: 'a',
      threshold: 75,
      percentUsed: 78,
      usedTokens: 780,
      remainingTokens: 220,
      maxTokens: 1000,
      severity: 'warning',
      message: 'Thread budget 78% used (780 of 1,000 tokens, 220 left): plan to wrap up.',
    });
    expect(r.warnings[1]!.message).toContain('wrap up now');
  });

  it('ends budget_exhausted when a refused call propagates, and says so in the event', async () => {
    const { pump, registry } = setup();
    const events: ThreadEvent[] = [];
    pump.on('thread', (e) => events.push(e));
    pump.register('a', { schema: Text, handler: async (_p, ctx) => void (await ctx.complete({ model: 'm', messages: [], maxTokens: 5_000 })) });
    const r = await pump.run('a', { text: '' }, { maxTokens: 1_000 });
    expect(r.status).toBe('budget_exhausted');
    expect(r.error).toBeInstanceOf(BudgetExhaustedError);
    expect(r.usage).toMatchObject({ totalTokens: 0, maxTokens: 1_000, reservedTokens: 0 });
    expect(events).toEqual([r]);
    expect(events[0]).toMatchObject({ threadId: r.threadId, status: 'budget_exhausted' });
    expect(registry.size).toBe(0);
  });

  it('lets a handler catch BudgetExhaustedError and finish', async () => {
    const { pump } = setup();
    pump.register('a', {
      schema: Text,
      handler: async (_p, ctx) => {
        try {
          await ctx.complete({ model: 'm', messages: [], maxTokens: 5_000 });
        } catch (err) {
          return { respond: err instanceof BudgetExhaustedError ? 'partial' : 'other' };
        }
      },
    });
    const r = await pump.run('a', { text: '' }, { maxTokens: 1_000 });
    expect(r).toMatchObject({ status: 'completed', result: 'partial' });
  });

  it('ends the budget, reports usage, emits the event and logs at debug level on every end', async () => {
    const debug = vi.fn();
    const { pump, ledger } = setup({ logger: { debug } });
    const events: ThreadEvent[] = [];
    const off = pump.on('thread', (e) => events.push(e));
    pump.on('thread', () => {
      throw new Error('listener bug');
    });
    pump.register('a', {
      schema: Text,
      handler: async (p, ctx) => {
        await ctx.complete({ model: 'm', messages: [] });
        if (p.text === 'fail') throw new Error('x');
      },
    });
    const ok = await pump.run('a', { text: '' });
    const failed = await pump.run('a', { text: 'fail' });
    expect(ok.usage).toMatchObject({ totalTokens: 20, requestCount: 1 });
    expect(failed).toMatchObject({ status: 'failed', usage: { totalTokens: 20 } });
    expect(await ledger.usage(ok.threadId)).toBeUndefined();
    expect(await ledger.usage(failed.threadId)).toBeUndefined();
    expect(events.map((e) => e.status)).toEqual(['completed', 'failed']);
    expect(debug).toHaveBeenCalledWith('thread ended', expect.objectContaining({ threadId: ok.threadId, status: 'completed', totalTokens: 20, requestCount: 1 }));
    expect(debug).toHaveBeenCalledWith('thread listener threw', expect.objectContaining({ error: 'listener bug' }));
    off();
    await pump.run('a', { text: '' });
    expect(events).toHaveLength(2);
    expect(pump.stats().listeners).toBe(1);
  });
});

describe('MessagePump: bounds', () => {
  it('caps the call chain depth', async () => {
    const { pump } = setup({ maxDepth: 4 });
    pump.register('loop', { schema: z.number(), peers: ['loop'], handler: (n) => ({ to: 'loop', payload: n + 1 }) });
    const r = await pump.run('loop', 0);
    expect(r.status).toBe('rejected');
    expect(r.error).toMatchObject({ reason: 'depth' });
    expect(r.error?.message).toMatch(/maxDepth \(4 callers waiting\): \.\.\.loop -> loop/);
    expect(r.steps).toBe(5);
  });

  it('caps steps per thread against ping-pong loops', async () => {
    const { pump } = setup({ maxSteps: 50 });
    pump.register('ping', { schema: z.unknown(), peers: ['pong'], handler: () => ({ to: 'pong', payload: null }) });
    pump.register('pong', { schema: z.unknown(), handler: () => ({ respond: null }) });
    const r = await pump.run('ping', null);
    expect(r.status).toBe('rejected');
    expect(r.error).toMatchObject({ reason: 'steps' });
    expect(r.error?.message).toMatch(/reached maxSteps \(50\).*looping/);
    expect(r.steps).toBe(50);
  });

  it('rejects start() when the queue is full under onFull: reject', async () => {
    const { pump } = setup({ maxConcurrentThreads: 1, maxQueue: 1, onFull: 'reject' });
    const g = gate();
    pump.register('a', { schema: Text, handler: async () => void (await g.promise) });
    const first = await pump.start('a', { text: '' });
    const second = await pump.start('a', { text: '' });
    expect(pump.stats()).toMatchObject({ activeThreads: 1, queuedThreads: 1 });
    await expect(pump.start('a', { text: '' })).rejects.toBeInstanceOf(QueueFullError);
    await expect(pump.start('a', { text: '' })).rejects.toThrow(/inbound queue is full \(1 threads queued, 1 running\)/);
    g.open();
    expect((await first.done).status).toBe('completed');
    expect((await second.done).status).toBe('completed');
  });

  it('makes start() wait for room under onFull: wait (and bounds the waiters)', async () => {
    const { pump } = setup({ maxConcurrentThreads: 1, maxQueue: 1 });
    const g = gate();
    pump.register('a', { schema: Text, handler: async () => void (await g.promise) });
    await pump.start('a', { text: '' });
    await pump.start('a', { text: '' });
    let admitted = false;
    const third = pump.start('a', { text: '' }).then((h) => ((admitted = true), h));
    await expect(pump.start('a', { text: '' })).rejects.toThrow(/1 start\(\) calls are already waiting/);
    await sleep(10);
    expect(admitted).toBe(false);
    expect(pump.stats().waitingStarts).toBe(1);
    g.open();
    const handle = await third;
    expect((await handle.done).status).toBe('completed');
    expect(pump.stats()).toMatchObject({ threads: 0, waitingStarts: 0 });
  });

  it('limits steps of one agent running at once across threads', async () => {
    const { pump } = setup({ maxConcurrentThreads: 20 });
    let running = 0;
    let peak = 0;
    pump.register('a', {
      schema: Text,
      concurrency: 2,
      handler: async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(5);
        running--;
      },
    });
    const results = await Promise.all(Array.from({ length: 10 }, () => pump.run('a', { text: '' })));
    expect(results.every((r) => r.status === 'completed')).toBe(true);
    expect(peak).toBe(2);
    expect(pump.stats()).toMatchObject({ waitingForAgent: 0, runningSteps: 0 });
  });

  it('bounds threads running at once', async () => {
    const { pump } = setup({ maxConcurrentThreads: 3, maxQueue: 100 });
    let running = 0;
    let peak = 0;
    pump.register('a', { schema: Text, handler: async () => void (running++, (peak = Math.max(peak, running)), await sleep(2), running--) });
    await Promise.all(Array.from({ length: 30 }, () => pump.run('a', { text: '' })));
    expect(peak).toBe(3);
  });
});

describe('MessagePump: close', () => {
  it('drains running and queued threads, refusing new ones', async () => {
    const { pump } = setup({ maxConcurrentThreads: 1 });
    pump.register('a', { schema: Text, handler: async () => (await sleep(5), { respond: 1 }) });
    const handles = [await pump.start('a', { text: '' }), await pump.start('a', { text: '' })];
    await pump.close();
    for (const h of handles) expect((await h.done).status).toBe('completed');
    await expect(pump.start('a', { text: '' })).rejects.toBeInstanceOf(PumpClosedError);
  });

  it('cancels everything with mode cancel, aborting handlers and calls', async () => {
    const { pump, registry } = setup({ maxConcurrentThreads: 2, maxQueue: 5 }, { delayMs: 60_000 });
    const signals: AbortSignal[] = [];
    pump.register('a', {
      schema: Text,
      concurrency: 1,
      handler: async (_p, ctx) => {
        signals.push(ctx.signal);
        await ctx.complete({ model: 'm', messages: [] });
      },
    });
    const handles = await Promise.all(Array.from({ length: 4 }, () => pump.start('a', { text: '' })));
    await vi.waitFor(() => expect(pump.stats()).toMatchObject({ runningSteps: 1, waitingForAgent: 1, queuedThreads: 2, inFlightCalls: 1 }));
    await pump.close({ mode: 'cancel' });
    const results = await Promise.all(handles.map((h) => h.done));
    for (const r of results) {
      expect(r.status).toBe('failed');
      expect(r.error).toBeInstanceOf(PumpClosedError);
    }
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(registry.size).toBe(0);
    expect(pump.stats()).toMatchObject({ threads: 0, activeThreads: 0, queuedThreads: 0, waitingForAgent: 0, timers: 0, inFlightCalls: 0 });
  });

  it('cancels what did not drain within timeoutMs', async () => {
    const { pump } = setup();
    pump.register('a', { schema: Text, handler: () => new Promise(() => {}) });
    const h = await pump.start('a', { text: '' });
    await pump.close({ timeoutMs: 20 });
    const r = await h.done;
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/did not drain within 20 ms/);
    expect(pump.stats().timers).toBe(0);
  });
});
