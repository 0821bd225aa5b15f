import { describe, expect, it } from 'vitest';
import { CallAbortedError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import { callAbortOf, AbortScope, withCallAbort } from '../../src/core/abort.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { hangUntilAborted, hi, TestBackend } from './helpers.js';

describe('the call abort scope in place of request.signal', () => {
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
