import { describe, expect, it } from 'vitest';
import { CallAbortedError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import { callAbortOf, AbortScope, raceAbort, withCallAbort } from '../../src/core/abort.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { hangUntilAborted, hi, TestBackend } from './helpers.js';

describe('AbortScope', () => {
  it('fires without a signal and gives the signal made later the same reason', () => {
    const scope = new AbortScope(undefined);
    const seen: unknown[] = [];
    scope.onAbort(() => seen.push(scope.reason));
    expect(scope.aborted).toBe(false);
    const why = new Error('client left');
    scope.abort(why);
    scope.abort(new Error('second'));
    expect(scope.aborted).toBe(true);
    expect(scope.reason).toBe(why);
    expect(scope.cause).toBe('parent');
    expect(seen).toEqual([why]);
    expect(scope.signal.aborted).toBe(true);
    expect(scope.signal.reason).toBe(why);
  });

  it('aborts a signal handed out earlier, with an AbortError when no reason is given', () => {
    const scope = new AbortScope(undefined);
    const signal = scope.signal;
    expect(signal.aborted).toBe(false);
    scope.abort();
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('AbortError');
    expect(scope.reason).toBe(signal.reason);
  });

  it('passes a parent scope\'s abort (or an earlier one) to children, and times out on its own', async () => {
    const parent = new AbortScope(undefined);
    const child = new AbortScope(parent, 60_000);
    const why = new Error('stop');
    parent.abort(why);
    expect(child.aborted).toBe(true);
    expect(child.cause).toBe('parent');
    expect(child.signal.reason).toBe(why);
    expect(new AbortScope(parent).reason).toBe(why);

    const timed = new AbortScope(new AbortController().signal, 5);
    await expect(raceAbort(new Promise<never>(() => undefined), timed)).rejects.toMatchObject({ name: 'TimeoutError', timeoutMs: 5 });
    expect(timed.cause).toBe('timeout');
    expect(timed.signal.aborted).toBe(true);
  });

  it('follows a caller AbortSignal and unlinks from it on dispose', () => {
    const ac = new AbortController();
    const linked = new AbortScope(ac.signal);
    linked.dispose();
    ac.abort();
    expect(linked.aborted).toBe(false);
    const ac2 = new AbortController();
    const live = new AbortScope(ac2.signal);
    ac2.abort('bye');
    expect(live.aborted).toBe(true);
    expect(live.reason).toBe('bye');
  });
});

describe('caller scope in place of request.signal', () => {
  function setup(backend: TestBackend) {
    const ledger = new MemoryBudgetLedger();
    const tracker = new UsageTracker();
    const router = new LLMRouter({ backends: [backend], ledger, tracker, estimateTokens: () => 5 });
    return { router, ledger, tracker };
  }

  it('aborting the scope aborts the backend call and releases the reservation', async () => {
    const a = new TestBackend({ name: 'a', respond: (req) => hangUntilAborted(req.signal) });
    const { router, ledger, tracker } = setup(a);
    const scope = new AbortScope(undefined);
    const request = withCallAbort({ model: 'm', messages: hi, threadId: 't', maxTokens: 10 }, scope);
    expect(Object.keys(request)).not.toContain('signal');
    expect(callAbortOf(request)).toBe(scope);
    const call = router.complete(request);
    await new Promise((r) => setTimeout(r, 5));
    expect((await ledger.usage('t'))!.reservedTokens).toBe(15);
    scope.abort(new Error('client disconnected'));
    const error = await call.then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect((error as CallAbortedError).reason).toBe('aborted');
    expect(a.requests[0]!.signal!.aborted).toBe(true);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
    expect(tracker.getTotals().requestCount).toBe(0);
  });

  it('an already-aborted scope calls no backend; an untouched one changes nothing', async () => {
    const a = new TestBackend({ name: 'a' });
    const { router, ledger } = setup(a);
    const gone = new AbortScope(undefined);
    gone.abort(new Error('gone'));
    await expect(router.complete(withCallAbort({ model: 'm', messages: hi, threadId: 'u' }, gone))).rejects.toBeInstanceOf(CallAbortedError);
    expect(a.requests).toHaveLength(0);
    expect((await ledger.usage('u'))?.reservedTokens ?? 0).toBe(0);
    const res = await router.complete(withCallAbort({ model: 'm', messages: hi, threadId: 'u' }, new AbortScope(undefined)));
    expect(res.content).toBe('ok');
    expect(a.requests[0]!.signal!.aborted).toBe(false);
  });
});
