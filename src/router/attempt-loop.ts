import { raceAbort } from '../core/abort.js';
import { AllBackendsFailedError, CallAbortedError, ProviderError } from '../core/errors.js';
import type { Backend, LLMResponse } from '../core/types.js';
import type { BackendPool, Lease, BackendPick } from './backend-pool.js';
import type { RouterCall } from './call.js';
import type { CooldownPolicy } from './cooldown.js';
import { attemptError, attemptTimeoutError, backendLabel, waitTooLong } from './errors.js';
import { backoffDelayMs, type RetryPolicy } from './retry.js';

/** What the attempt loop needs from its router. */
export interface AttemptSettings {
  pool: BackendPool;
  retryPolicy: Readonly<RetryPolicy>;
  cooldownPolicy: Readonly<CooldownPolicy>;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

/**
 * Attempts and failover: leases the next backend of a call (waiting out backoff, Retry-After, a rate
 * window or a concurrency slot), classifies failed attempts, and decides whether another one is made.
 */
export class AttemptLoop {
  constructor(private readonly s: AttemptSettings) {}

  /** Attempts `call` as a completion until a backend answers; throws when the call must stop. */
  complete(call: RouterCall): Promise<{ response: LLMResponse; lease: Lease }> {
    return this.run(call, (lease) => callComplete(lease.backend, call, lease));
  }

  /**
   * Attempts `call` until a backend answers, sending each attempt with `send` (a completion, embeddings);
   * throws when the call must stop.
   */
  async run<T>(call: RouterCall, send: (lease: Lease) => Promise<T>): Promise<{ response: T; lease: Lease }> {
    for (;;) {
      const lease = await this.pickAndLease(call);
      try {
        const response = await raceAbort(send(lease), lease.attempt);
        if (response === null || typeof response !== 'object') throw malformed(lease.backend, response);
        lease.state.health.recordSuccess();
        return { response, lease };
      } catch (err) {
        this.failed(call, lease, err);
      } finally {
        lease.end();
      }
    }
  }

  /**
   * Picks the backend for the next attempt and waits as needed (backoff, Retry-After, rate window,
   * concurrency slot). Failing over to a backend not yet tried in this call is immediate; trying one
   * again waits the backoff.
   */
  async pickAndLease(call: RouterCall): Promise<Lease> {
    const tokens = call.req.threadId !== undefined || this.s.pool.anyRateLimited(call.order) ? call.budgetTokens : 0;
    let backoffServed = false;
    let waitedFor: Backend | undefined;
    for (;;) {
      if (call.scope?.aborted) throw call.abortedError();
      const now = this.s.now();
      const pick = this.s.pool.pick(call.order, call.cursor + 1, tokens, now, waitedFor);
      let wait = pick.waitMs;
      if (!backoffServed && call.tried.has(pick.backend)) {
        wait = Math.max(wait, backoffDelayMs(call.failures.length, this.s.retryPolicy, this.s.random));
      }
      backoffServed = true;
      if (wait <= 0) return this.take(call, pick.backend, tokens, now);
      await this.waitFor(call, pick, wait, now);
      waitedFor = pick.backend;
    }
  }

  /**
   * Classifies a failed attempt. Throws when the call must stop (caller abort, call timeout,
   * non-retryable answer, attempts exhausted); returns when another attempt should be made.
   */
  failed(call: RouterCall, lease: Lease, err: unknown): void {
    if (call.scope?.aborted) throw call.abortedError();
    const failure = failureOf(lease, err);
    if (failure.isRetryable && failure.code !== 'BACKEND_BUSY') this.recordFailure(lease, failure);
    if (!failure.isRetryable) throw failure;
    this.countFailure(call, failure);
  }

  /** The error of a stream that broke after text went out (no failover mid-answer). */
  failedMidStream(call: RouterCall, lease: Lease, err: unknown): Error {
    if (call.scope?.aborted) return call.abortedError();
    const failure = failureOf(lease, err);
    if (failure.isRetryable) this.recordFailure(lease, failure);
    return failure;
  }

  private recordFailure(lease: Lease, failure: ProviderError): void {
    const retryAfter = failure.retryAfterMs === undefined ? undefined : Math.min(failure.retryAfterMs, this.s.retryPolicy.maxRetryAfterMs);
    lease.state.health.recordFailure(this.s.now(), this.s.cooldownPolicy, retryAfter);
  }

  private countFailure(call: RouterCall, failure: ProviderError): void {
    call.failures.push(failure);
    if (call.failures.length >= this.s.retryPolicy.maxAttempts) throw new AllBackendsFailedError(call.req.model, call.failures);
  }

  /** Sleeps `wait` ms before trying `pick.backend`, unless that would outlast what the call may wait. */
  private async waitFor(call: RouterCall, pick: BackendPick, wait: number, now: number): Promise<void> {
    if (call.deadline !== undefined && now + wait > call.deadline) {
      throw new CallAbortedError(
        'timeout',
        `Call to model ${JSON.stringify(call.req.model)} cannot finish within its timeout of ${call.req.timeoutMs} ms: ` +
          `${backendLabel(pick.backend)} is available again in ${Math.ceil(wait)} ms` + call.earlierFailures(),
      );
    }
    // Without a timeout of its own, a call waits no longer than one attempt on that backend may take:
    // a long Retry-After is answered at once (with when to come back), not slept through.
    const attemptMs = this.s.pool.attemptTimeoutOf(pick.backend);
    if (call.deadline === undefined && wait > attemptMs) throw waitTooLong(pick.backend, wait, attemptMs, call.earlierFailures());
    try {
      await this.s.sleep(wait, call.scope?.signal);
    } catch (err) {
      if (call.scope?.aborted) throw call.abortedError();
      throw err;
    }
  }

  /** Takes `backend` for an attempt: its rate window now, then a concurrency slot (a full queue fails over). */
  private async take(call: RouterCall, backend: Backend, tokens: number, now: number): Promise<Lease> {
    const state = this.s.pool.stateOf(backend);
    call.cursor = call.order.indexOf(backend);
    call.tried.add(backend);
    const tpmEntry = state.tpm?.add(tokens, now);
    if (state.limiter) {
      try {
        await state.limiter.acquire(call.scope?.signal);
      } catch (err) {
        if (tpmEntry) state.tpm!.adjust(tpmEntry, 0);
        if (call.scope?.aborted) throw call.abortedError();
        this.countFailure(call, attemptError(backend, err));
        return this.pickAndLease(call);
      }
    }
    return this.s.pool.lease(backend, state, call.scope, call.streaming, tpmEntry);
  }
}

function failureOf(lease: Lease, err: unknown): ProviderError {
  return lease.attempt.cause === 'timeout' ? attemptTimeoutError(lease.backend, lease.timeoutMs, err) : attemptError(lease.backend, err);
}

/** The backend's answer as a promise, whether it returned one, a value, or threw. */
function callComplete(backend: Backend, call: RouterCall, lease: Lease): Promise<LLMResponse> {
  try {
    return Promise.resolve(backend.complete(call.backendRequest(lease.attempt)));
  } catch (err) {
    return Promise.reject(err);
  }
}

function malformed(backend: Backend, response: unknown): ProviderError {
  return new ProviderError({
    code: 'MALFORMED_RESPONSE',
    provider: backend.provider,
    backend: backend.name,
    isRetryable: false,
    message: `${backendLabel(backend)} returned ${response === null ? 'null' : typeof response} instead of a response`,
  });
}
