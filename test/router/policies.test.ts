/**
 * The router's budget policies (issue 14): every charged call reserves its estimate on the policies that
 * apply to its subject, together with its thread's hold, before any backend is called; then exactly one
 * settle (to the recorded usage event's cost and tokens) or release, whatever way the call ends. Real
 * HTTP upstreams (the fake OpenAI server), the real memory thread ledger and tracker; the policies are a
 * recording PolicyGuard (BudgetPolicies is built elsewhere: this checks what the router asks of any guard).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import type { PolicyGuard, PolicyStanding } from '../../src/budget/policy-types.js';
import {
  BudgetExhaustedError,
  CallAbortedError,
  PolicyExhaustedError,
  RateLimitedError,
  ValidationError,
} from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter, type LLMRouterOptions } from '../../src/router/router.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { RecordingGuard, standing } from '../support/recording-guard.js';

const HELLO = [{ role: 'user' as const, content: 'Hello there' }];
let srv: FakeServer<OpenAIScenario>;
let guard: RecordingGuard;
let ledger: MemoryBudgetLedger;
let events: UsageEvent[];
let tracker: UsageTracker;

beforeEach(async () => {
  srv = await startFakeOpenAIServer();
  guard = new RecordingGuard();
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 10_000 });
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
});
afterEach(async () => {
  await srv.close();
});

function router(options: LLMRouterOptions = {}): LLMRouter {
  const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, models: '*' });
  return new LLMRouter({ backends: [backend], ledger, tracker, policies: guard, estimateTokens: () => 10, retries: { maxAttempts: 2, baseDelayMs: 1 }, ...options });
}

/** The policy settle of the only event equals that event's cost and tokens. */
function expectSettledToEvent(): void {
  expect(events).toHaveLength(1);
  const e = events[0]!;
  expect(guard.settles).toEqual([{ id: guard.granted[0], actual: { nanos: e.costNanos ?? 0, tokens: e.totalTokens } }]);
}

describe('router policies: reserve', () => {
  it('reserves the call subject and estimate before the first attempt, gives the standings to onReserved, settles to the event', async () => {
    const r = router();
    let seen: { standings: PolicyStanding[]; upstreamCalls: number } | undefined;
    const res = await r.complete({
      model: 'gpt-4o',
      messages: HELLO,
      threadId: 't1',
      agentId: 'writer',
      maxTokens: 50,
      metadata: { user_id: 'ann', orgId: 'acme', key_name: 'ci-key' },
      onReserved: (standings) => (seen = { standings, upstreamCalls: srv.requests.length }),
    });
    expect(guard.reserves).toEqual([
      { subject: { model: 'gpt-4o', thread: 't1', agent: 'writer', user: 'ann', org: 'acme', key: 'ci-key' }, estimate: { promptTokens: 10, completionTokens: 50 } },
    ]);
    expect(seen).toEqual({ standings: [standing(0, 60_000, 0, 60)], upstreamCalls: 0 });
    expectSettledToEvent();
    expect(events[0]!.costNanos).toBeGreaterThan(0); // gpt-4o is priced: the settle carries real money
    expect(res.policies).toEqual([standing(events[0]!.costNanos!, 0, 20, 0)]);
    expect(guard.releases).toEqual([]);
    expect(res.budget?.usage?.totalTokens).toBe(20);
  });

  it('a call no policy applies to: onReserved([]), nothing settled, no policies field', async () => {
    guard.applies = false;
    const got: PolicyStanding[][] = [];
    const res = await router().complete({ model: 'gpt-4o', messages: HELLO, onReserved: (s) => got.push(s) });
    expect(got).toEqual([[]]);
    expect(guard.settles).toEqual([]);
    expect(res.policies).toBeUndefined();
    expect(events).toHaveLength(1);
  });

  it('without policies, onReserved is still called once with [] (also without a thread)', async () => {
    const got: PolicyStanding[][] = [];
    const r = router({ policies: undefined });
    await r.complete({ model: 'gpt-4o', messages: HELLO, onReserved: (s) => got.push(s) });
    await r.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't', onReserved: (s) => got.push(s) });
    expect(got).toEqual([[], []]);
  });

  it('a policy refusal calls no backend, records nothing and releases the thread hold', async () => {
    guard.refusal = new PolicyExhaustedError({ policy: 'user-daily', scope: 'user', entity: 'ann', limit: 'usd', max: 5, used: 5, reserved: 0, requested: 0.001, resetsAt: null });
    const called: PolicyStanding[][] = [];
    const err = await router()
      .complete({ model: 'gpt-4o', messages: HELLO, threadId: 't1', metadata: { user_id: 'ann' }, onReserved: (s) => called.push(s) })
      .catch((e: unknown) => e);
    expect(err).toBe(guard.refusal);
    expect(srv.requests).toHaveLength(0);
    expect(events).toHaveLength(0);
    expect(called).toEqual([]);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
  });

  it('a rate refusal of a stream: thrown before any chunk, thread hold released', async () => {
    guard.refusal = new RateLimitedError({ policy: 'key-rate', scope: 'key', entity: 'k', limit: 'requests', max: 1, used: 1, reserved: 0, requested: 1, resetsAt: Date.now() + 30_000, now: Date.now() });
    const chunks: unknown[] = [];
    const err = await (async () => {
      for await (const c of router().stream({ model: 'gpt-4o', messages: HELLO, threadId: 't1' })) chunks.push(c);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(chunks).toEqual([]);
    expect(srv.requests).toHaveLength(0);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 0 });
  });

  it('a thread refusal releases the policy hold and calls no backend', async () => {
    ledger = new MemoryBudgetLedger({ maxTokensPerThread: 30 }); // 10 + 50 does not fit
    const err = await router().complete({ model: 'gpt-4o', messages: HELLO, threadId: 't1', maxTokens: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(srv.requests).toHaveLength(0);
    expect(guard.granted).toHaveLength(1);
    expect(guard.endings()).toEqual(['released']);
    expect(events).toHaveLength(0);
  });

  it('an onReserved that throws fails the call before any attempt and releases both holds', async () => {
    const boom = new Error('header write failed');
    const err = await router()
      .complete({ model: 'gpt-4o', messages: HELLO, threadId: 't1', onReserved: () => { throw boom; } })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(srv.requests).toHaveLength(0);
    expect(guard.endings()).toEqual(['released']);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 0 });
  });

  it('checks the option and the hook, naming them', async () => {
    expect(() => new LLMRouter({ policies: { reserve() {} } as unknown as PolicyGuard })).toThrow(/policies.*PolicyGuard/);
    const r = router();
    await expect(r.complete({ model: 'm', messages: HELLO, onReserved: 'x' as unknown as () => void })).rejects.toThrow(ValidationError);
    expect(guard.reserves).toEqual([]);
  });
});

describe('router policies: every way out ends the hold exactly once', () => {
  it('all backends failed, a non-retryable error, a timeout and an abort: nothing spent, each counted as one request (settled at zero), no event', async () => {
    const r = router();
    srv.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    await expect(r.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't' })).rejects.toMatchObject({ code: 'ALL_BACKENDS_FAILED' });
    srv.enqueue({ kind: 'status', status: 400 });
    await expect(r.complete({ model: 'gpt-4o', messages: HELLO })).rejects.toMatchObject({ status: 400 });
    srv.enqueue({ kind: 'ok', delayMs: 2_000 });
    await expect(r.complete({ model: 'gpt-4o', messages: HELLO, timeoutMs: 50 })).rejects.toBeInstanceOf(CallAbortedError);
    srv.enqueue({ kind: 'ok', delayMs: 2_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(r.complete({ model: 'gpt-4o', messages: HELLO, signal: controller.signal })).rejects.toBeInstanceOf(CallAbortedError);
    // Each reached the provider: settled at zero (a request counted for rate limits), never released too.
    expect(guard.endings()).toEqual(['settled', 'settled', 'settled', 'settled']);
    expect(guard.settles.map((x) => x.actual)).toEqual(Array(4).fill({ nanos: 0, tokens: 0 }));
    expect(events).toHaveLength(0);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0 });
  });

  it('implausible usage: the call is charged (event) and the policies settled to it once, then the error', async () => {
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: 10, completion_tokens: 5_000 } });
    await expect(router().complete({ model: 'gpt-4o', messages: HELLO, maxTokens: 50 })).rejects.toMatchObject({ code: 'IMPLAUSIBLE_USAGE' });
    expectSettledToEvent();
    expect(guard.endings()).toEqual(['settled']);
  });

  it('a stream read to its end: settled once to the event, before the usage chunk', async () => {
    const chunks: Array<{ type: string; policies?: PolicyStanding[] }> = [];
    for await (const c of router().stream({ model: 'gpt-4o', messages: HELLO, metadata: { user_id: 'ann' } })) chunks.push(c);
    expectSettledToEvent();
    const last = chunks.at(-1)!;
    expect(last.type).toBe('usage');
    expect(last.policies).toEqual([standing(events[0]!.costNanos!, 0, events[0]!.totalTokens, 0)]);
  });

  it('a stream abandoned by its consumer after one delta: charged what was delivered, settled once', async () => {
    srv.enqueue({ kind: 'endless-stream', chunkDelayMs: 5 });
    for await (const c of router().stream({ model: 'gpt-4o', messages: HELLO })) if (c.type === 'delta') break;
    expectSettledToEvent();
    expect(events[0]!.completionTokens).toBeGreaterThan(0);
    expect(guard.endings()).toEqual(['settled']);
  });

  it('a stream cut past its output cap: settled once, then the error', async () => {
    srv.enqueue({ kind: 'endless-stream' });
    const err = await (async () => {
      for await (const c of router().stream({ model: 'gpt-4o', messages: HELLO, maxTokens: 5 })) void c;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_CAP_EXCEEDED' });
    expectSettledToEvent();
    expect(guard.endings()).toEqual(['settled']);
  });

  it('a stream that breaks mid-answer is charged and settled once; one that fails before its first delta is settled at zero', async () => {
    const r = router({ retries: { maxAttempts: 1 } });
    srv.enqueue({ kind: 'truncated-stream', chunks: 2 });
    await expect((async () => {
      for await (const c of r.stream({ model: 'gpt-4o', messages: HELLO })) void c;
    })()).rejects.toBeDefined();
    expectSettledToEvent();
    srv.enqueue({ kind: 'status', status: 500 });
    await expect((async () => {
      for await (const c of r.stream({ model: 'gpt-4o', messages: HELLO })) void c;
    })()).rejects.toBeDefined();
    expect(guard.endings()).toEqual(['settled', 'settled']);
    expect(guard.settles[1]!.actual).toEqual({ nanos: 0, tokens: 0 });
    expect(events).toHaveLength(1);
  });

  it('20 concurrent calls with mixed outcomes: every hold ended once, settles equal the events', async () => {
    const r = router({ retries: { maxAttempts: 1 } });
    const scenarios: OpenAIScenario[] = [];
    for (let i = 0; i < 20; i++) scenarios.push(i % 3 === 0 ? { kind: 'status', status: 500 } : { kind: 'ok', delayMs: i });
    srv.enqueue(...scenarios);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? r.complete({ model: 'gpt-4o', messages: HELLO, threadId: `t${i % 4}` })
          : (async () => {
              for await (const c of r.stream({ model: 'gpt-4o', messages: HELLO, threadId: `t${i % 4}` })) void c;
            })(),
      ),
    );
    expect(guard.granted).toHaveLength(20);
    expect(guard.endings().every((e) => e === 'settled' || e === 'released')).toBe(true);
    const ok = results.filter((x) => x.status === 'fulfilled').length;
    // Every call reached the upstream: the failed ones are settled at zero, the answered ones to their event.
    expect(guard.settles).toHaveLength(20);
    expect(guard.settles.filter((x) => x.actual.tokens > 0)).toHaveLength(ok);
    expect(events).toHaveLength(ok);
    const settledNanos = guard.settles.reduce((a, s) => a + s.actual.nanos, 0);
    expect(settledNanos).toBe(events.reduce((a, e) => a + (e.costNanos ?? 0), 0));
    for (let t = 0; t < 4; t++) expect((await ledger.usage(`t${t}`))?.reservedTokens ?? 0).toBe(0);
  });
});

describe('router policies: settle and record failures', () => {
  it('a settle the policy ledger cannot take is retried in the background; the answer comes without policies', async () => {
    guard.failingSettles = 2;
    const r = router();
    const res = await r.complete({ model: 'gpt-4o', messages: HELLO });
    expect(res.policies).toBeUndefined();
    expect(events).toHaveLength(1);
    await r.drainSettles();
    const amount = { nanos: events[0]!.costNanos!, tokens: events[0]!.totalTokens };
    expect(guard.settles).toEqual([1, 2, 3].map(() => ({ id: 'p1', actual: amount })));
    expect(guard.releases).toEqual([]);
  });

  it('a usage event that cannot be recorded releases the policy hold instead of settling it', async () => {
    tracker.subscribe(() => { throw new Error('disk full'); }, { required: true });
    const err = await router().complete({ model: 'gpt-4o', messages: HELLO }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'USAGE_NOT_PERSISTED' });
    expect(guard.settles).toEqual([]);
    expect(guard.endings()).toEqual(['released']);
  });
});

describe('router policies: embeddings and pass-through', () => {
  it('embed, forward and forwardStream reserve their estimate and settle to their events; forwardUncharged reserves nothing', async () => {
    const r = router();
    const subject = { model: 'gpt-4o', thread: undefined, agent: undefined, user: undefined, org: undefined, key: 'k1' };
    const metadata = { key_name: 'k1' };
    const seen: PolicyStanding[][] = [];
    await r.embed({ model: 'gpt-4o', body: { model: 'gpt-4o', input: 'hi' }, inputTokens: 3, metadata, onReserved: (s) => seen.push(s) });
    const body = { model: 'gpt-4o', messages: HELLO, max_tokens: 40 };
    await r.forward({ api: 'chat', model: 'gpt-4o', body, inputTokens: 7, maxOutputTokens: 40, metadata, onReserved: (s) => seen.push(s) });
    for await (const c of r.forwardStream({ api: 'chat', model: 'gpt-4o', body: { ...body, stream: true }, inputTokens: 7, maxOutputTokens: 40, metadata })) void c;
    await r.forwardUncharged({ api: 'chat', model: 'gpt-4o', body, inputTokens: 7, metadata, onReserved: (s) => seen.push(s) });
    expect(guard.reserves).toEqual([
      { subject, estimate: { promptTokens: 3, completionTokens: 0 } },
      { subject, estimate: { promptTokens: 7, completionTokens: 40 } },
      { subject, estimate: { promptTokens: 7, completionTokens: 40 } },
    ]);
    expect(seen).toHaveLength(2);
    expect(events).toHaveLength(3);
    expect(guard.settles).toEqual(events.map((e, i) => ({ id: `p${i + 1}`, actual: { nanos: e.costNanos ?? 0, tokens: e.totalTokens } })));
    expect(guard.releases).toEqual([]);
  });
});
