/**
 * The one abort module. The router makes one scope per call (caller's signal + the call's deadline) and one
 * per attempt (the call's scope + the backend's timeout); a provider's HTTP call makes one more (the
 * attempt's scope + its own timeout, idle-timed for streams) and cancels its transport from `onAbort`.
 * Each scope remembers why it fired.
 */

/** Why a {@link AbortScope} fired. */
export type AbortCause = 'parent' | 'timeout';

/**
 * An abort scope tied to a parent (a caller's AbortSignal, or another AbortScope) and an optional
 * timer. `cause` says which fired first. Links between scopes use plain callbacks rather than
 * EventTarget listeners, which cost microseconds each on the hot path, and the AbortController behind
 * {@link signal} is only made when something asks for the signal: a scope checked through
 * {@link aborted} and {@link onAbort} alone never creates one.
 *
 * @example
 * ```ts
 * const call = new AbortScope(request.signal, 5_000);
 * const attempt = new AbortScope(call, 30_000);
 * try { await backend.complete({ ...req, signal: attempt.signal }); } finally { attempt.dispose(); call.dispose(); }
 * if (attempt.cause === 'timeout') { ... }
 * ```
 */
export class AbortScope {
  private controller: AbortController | undefined;
  private fired = false;
  private firedReason: unknown;
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
  constructor(parent: AbortSignal | AbortScope | undefined, timeoutMs?: number, options: { idle?: boolean } = {}) {
    this.timeoutMs = timeoutMs;
    this.idle = options.idle === true;
    if (parent instanceof AbortScope) {
      if (parent.fired) this.fire('parent', parent.firedReason);
      else this.unlink = parent.onAbort(() => this.fire('parent', parent.firedReason));
    } else if (parent) {
      if (parent.aborted) {
        this.fire('parent', parent.reason);
      } else {
        const onParentAbort = () => this.fire('parent', parent.reason);
        parent.addEventListener('abort', onParentAbort, { once: true });
        this.unlink = () => parent.removeEventListener('abort', onParentAbort);
      }
    }
    if (timeoutMs !== undefined && !this.fired) {
      if (this.idle) this.lastActivity = performance.now();
      this.arm(timeoutMs);
    }
  }

  /** The AbortSignal to hand to code that takes one (made on first use; already aborted if this has fired). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.fired) this.controller.abort(this.firedReason);
    }
    return this.controller.signal;
  }

  /** Whether this has fired (same as `signal.aborted`, without making a signal). */
  get aborted(): boolean {
    return this.fired;
  }

  /** Why this fired (same as `signal.reason`); undefined until it has. */
  get reason(): unknown {
    return this.firedReason;
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
    if (this.fired) return;
    if (this.idle) {
      if (this.paused) return this.arm(timeoutMs);
      const silentFor = performance.now() - this.lastActivity;
      if (silentFor < timeoutMs) return this.arm(Math.max(1, Math.ceil(timeoutMs - silentFor)));
    }
    this.fire('timeout', new TimeoutSignalError(timeoutMs));
  }

  private fire(cause: AbortCause, reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    // As AbortController.abort() does: no reason means a DOMException named AbortError.
    this.firedReason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.cause = cause;
    this.dispose();
    this.controller?.abort(this.firedReason);
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    if (callbacks) for (const cb of callbacks) cb();
  }
}

/** The abort reason a {@link AbortScope} uses when its timer fires. */
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
export function raceAbort<T>(promise: Promise<T>, scope: AbortScope): Promise<T> {
  if (scope.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(scope.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const off = scope.onAbort(() => reject(scope.reason));
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

const CALL_ABORT = Symbol('tokenwarden.callAbort');

/**
 * Internal to tokenwarden: attaches an abort scope to a request in place of `request.signal`, so a
 * caller that only needs "abort this call" (the gateway, on client disconnect) need not make an
 * AbortController per request. The router links the call to it exactly as to a signal; it is ignored
 * when the request also has a `signal`. The property is a symbol, so it is not a request field.
 *
 * @example
 * ```ts
 * const scope = new AbortScope(undefined);
 * res.once('close', () => scope.abort(new Error('client disconnected')));
 * await router.complete(withCallAbort(request, scope));
 * ```
 */
export function withCallAbort<T extends object>(request: T, scope: AbortScope): T {
  (request as { [CALL_ABORT]?: AbortScope })[CALL_ABORT] = scope;
  return request;
}

/** The scope {@link withCallAbort} attached to `request`, if any. */
export function callAbortOf(request: object): AbortScope | undefined {
  return (request as { [CALL_ABORT]?: AbortScope })[CALL_ABORT];
}

const ATTEMPT_SCOPE = Symbol('tokenwarden.attemptScope');

/**
 * Internal to tokenwarden: builds a backend request whose `signal` is the attempt scope's AbortSignal,
 * made only if something reads it, with the scope itself attached (non-enumerable, so a copy such as
 * `{ ...request, signal }` does not carry it) for transports that can listen to the scope directly.
 * Assigning `signal` replaces it and detaches the scope.
 *
 * @example
 * ```ts
 * const request = withAttemptScope({ model, messages }, attempt);
 * attemptScopeOf(request) === attempt; // true; request.signal === attempt.signal
 * ```
 */
export function withAttemptScope<T extends object>(request: T, scope: AbortScope): T & { signal: AbortSignal } {
  Object.defineProperty(request, ATTEMPT_SCOPE, { value: scope, configurable: true });
  Object.defineProperty(request, 'signal', SCOPE_SIGNAL);
  return request as T & { signal: AbortSignal };
}

const SCOPE_SIGNAL: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: { [ATTEMPT_SCOPE]?: AbortScope }): AbortSignal | undefined {
    return this[ATTEMPT_SCOPE]?.signal;
  },
  set(this: { [ATTEMPT_SCOPE]?: AbortScope }, value: unknown): void {
    delete this[ATTEMPT_SCOPE];
    Object.defineProperty(this, 'signal', { value, writable: true, enumerable: true, configurable: true });
  },
};

/** The scope {@link withAttemptScope} attached to `request`, if it is still what `request.signal` stands for. */
export function attemptScopeOf(request: object): AbortScope | undefined {
  return (request as { [ATTEMPT_SCOPE]?: AbortScope })[ATTEMPT_SCOPE];
}
