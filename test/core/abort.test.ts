import { describe, expect, it } from 'vitest';
import { AbortScope, raceAbort } from '../../src/core/abort.js';

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
