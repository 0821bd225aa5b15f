/**
 * Abort plumbing for the router: one signal per call (caller's signal + the call's deadline) and one per
 * attempt (the call's signal + the backend's timeout), each remembering why it fired.
 */

/** Why a {@link LinkedAbort} fired. */
export type AbortCause = 'parent' | 'timeout';

/**
 * An AbortController tied to a parent (a caller's AbortSignal, or another LinkedAbort) and an optional
 * timer. `cause` says which fired first. Links between LinkedAborts use plain callbacks rather than
 * EventTarget listeners, which cost microseconds each on the hot path.
 *
 * @example
 * ```ts
 * const call = new LinkedAbort(request.signal, 5_000);
 * const attempt = new LinkedAbort(call, 30_000);
 * try { await backend.complete({ ...req, signal: attempt.signal }); } finally { attempt.dispose(); call.dispose(); }
 * if (attempt.cause === 'timeout') { ... }
 * ```
 */
export class LinkedAbort {
  private readonly controller = new AbortController();
  private unlink: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly timeoutMs: number | undefined;
  private readonly idle: boolean;
  private lastActivity = 0;
  private paused = false;
  private callbacks: Array<() => void> | undefined;
  /** What aborted this signal, if anything did. */
  cause: AbortCause | undefined;

  /**
   * With `idle: true` the timer measures silence: it fires only after `timeoutMs` without a
   * {@link touch}, and never while {@link pause}d (a stream consumer holding a chunk is not the
   * backend being silent). Activity costs a clock read, not a timer reset.
   */
  constructor(parent: AbortSignal | LinkedAbort | undefined, timeoutMs?: number, options: { idle?: boolean } = {}) {
    this.timeoutMs = timeoutMs;
    this.idle = options.idle === true;
    if (parent instanceof LinkedAbort) {
      if (parent.signal.aborted) this.fire('parent', parent.signal.reason);
      else this.unlink = parent.onAbort(() => this.fire('parent', parent.signal.reason));
    } else if (parent) {
      if (parent.aborted) {
        this.fire('parent', parent.reason);
      } else {
        const onParentAbort = () => this.fire('parent', parent.reason);
        parent.addEventListener('abort', onParentAbort, { once: true });
        this.unlink = () => parent.removeEventListener('abort', onParentAbort);
      }
    }
    if (timeoutMs !== undefined && !this.signal.aborted) {
      if (this.idle) this.lastActivity = performance.now();
      this.arm(timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Calls `callback` once when this aborts (not if it already has). Returns the function that unregisters it. */
  onAbort(callback: () => void): () => void {
    (this.callbacks ??= []).push(callback);
    return () => {
      const list = this.callbacks;
      if (!list) return;
      const i = list.indexOf(callback);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Idle mode: the backend was just heard from. */
  touch(): void {
    this.lastActivity = performance.now();
  }

  /** Idle mode: stop counting silence (until {@link resume}). */
  pause(): void {
    this.paused = true;
  }

  /** Idle mode: count silence again, from now. */
  resume(): void {
    this.paused = false;
    this.lastActivity = performance.now();
  }

  /** Aborts now, as if the parent had (used when the router abandons an attempt). */
  abort(reason?: unknown): void {
    this.fire('parent', reason);
  }

  /** Unlinks from the parent and stops the timer. */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.unlink?.();
    this.unlink = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.onTimer(), ms);
    this.timer.unref?.();
  }

  private onTimer(): void {
    this.timer = undefined;
    const timeoutMs = this.timeoutMs!;
    if (this.signal.aborted) return;
    if (this.idle) {
      if (this.paused) return this.arm(timeoutMs);
      const silentFor = performance.now() - this.lastActivity;
      if (silentFor < timeoutMs) return this.arm(Math.max(1, Math.ceil(timeoutMs - silentFor)));
    }
    this.fire('timeout', new TimeoutSignalError(timeoutMs));
  }

  private fire(cause: AbortCause, reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.cause = cause;
    this.dispose();
    this.controller.abort(reason);
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    if (callbacks) for (const cb of callbacks) cb();
  }
}

/** The abort reason a {@link LinkedAbort} uses when its timer fires. */
export class TimeoutSignalError extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Settles with `promise`, or rejects with the scope's abort reason as soon as it aborts (the promise is
 * then left to settle on its own; its rejection is swallowed). Lets the router give up promptly on a
 * backend that ignores its signal.
 */
export function raceAbort<T>(promise: Promise<T>, scope: LinkedAbort): Promise<T> {
  const signal = scope.signal;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const off = scope.onAbort(() => reject(signal.reason));
    promise.then(
      (value) => {
        off();
        resolve(value);
      },
      (err: unknown) => {
        off();
        reject(err);
      },
    );
  });
}

/** The default sleep: resolves after `ms`, rejects with the signal's reason if it aborts first. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
