import { raceAbort, withAttemptScope } from '../core/abort.js';
import { ProviderError } from '../core/errors.js';
import type { ForwardEvent, ForwardRequest } from '../core/types.js';
import type { AttemptLoop } from './attempt-loop.js';
import type { Lease } from './backend-pool.js';
import type { RouterCall } from './call.js';
import { backendLabel, streamCutError } from './errors.js';
import type { CheckedForward } from './forward-request.js';
import { failedAttempt, type StreamProgress } from './stream-attempt.js';

/** How one attempt of a forwarded stream ended. */
export type ForwardAttemptEnd =
  | { kind: 'answered'; reported: unknown; tail: ForwardEvent[]; failed: boolean }
  | { kind: 'retry' }
  | { kind: 'cut'; error: ProviderError };

/** The request one attempt of a forwarded call sends (the body as it is; the signal made only when read). */
export function forwardRequestOf(f: CheckedForward, lease: Lease): ForwardRequest {
  const out: ForwardRequest = { api: f.api, model: f.req.model, body: f.body };
  if (f.rawBody !== undefined) out.rawBody = f.rawBody;
  if (f.headers !== undefined) out.headers = f.headers;
  if (f.query !== undefined) out.query = f.query;
  return withAttemptScope(out, lease.attempt);
}

/** Words of an in-band error that says the upstream, not the request, failed (overloaded, rate limited, ...). */
const UPSTREAM_TROUBLE = /overloaded|rate_limit|rate limit|server_error|api_error|timeout|unavailable|internal/i;
/** Most events an upstream may send after its usage chunk or end marker (chat sends one: `[DONE]`). */
const MAX_TAIL = 64;

/**
 * An error the upstream reported in its first event, before anything went out. Another backend may answer
 * when it says the upstream is in trouble (then it counts against the backend's health); an error about
 * the request itself is passed on as it is, and one client's bad request cools no backend down.
 */
function earlyError(lease: Lease, event: ForwardEvent): ProviderError {
  const { backend } = lease;
  const trouble = UPSTREAM_TROUBLE.test(event.data) || UPSTREAM_TROUBLE.test(event.error!);
  return new ProviderError({
    code: 'PROVIDER_ERROR',
    provider: backend.provider,
    backend: backend.name,
    isRetryable: trouble,
    message: `${backendLabel(backend)} reported an error before its answer: ${event.error!.slice(0, 500)}`,
  });
}

/**
 * One attempt of a forwarded stream: yields the upstream's events as sent, counting the text they carry
 * (the stream is cut past its output cap), and says how it ended. The upstream's last events (from its
 * usage-only chunk or its end marker on, or an error it reported mid-answer) are held back in `tail`: they
 * go out once the call is charged. A failure before the first event asks for another attempt; after one,
 * it is thrown (no failover mid-answer).
 */
export async function* forwardStreamAttempt(
  call: RouterCall,
  lease: Lease,
  progress: StreamProgress,
  attempts: AttemptLoop,
  f: CheckedForward,
): AsyncGenerator<ForwardEvent, ForwardAttemptEnd, undefined> {
  let iterator: AsyncIterator<ForwardEvent> | undefined;
  let exhausted = false;
  const tail: ForwardEvent[] = [];
  let reported: unknown;
  try {
    iterator = lease.backend.forwardStream!(forwardRequestOf(f, lease))[Symbol.asyncIterator]();
    for (;;) {
      const step = await raceAbort(iterator.next(), lease.attempt);
      if (step.done) {
        exhausted = true;
        break;
      }
      const event = step.value;
      lease.attempt.touch();
      if (event.usage !== undefined) reported = event.usage;
      if (event.error !== undefined && progress.servedBy === undefined) throw earlyError(lease, event);
      const cut = event.text ? progress.deliveredText(lease.backend, event.text) : undefined;
      if (cut) return { kind: 'cut', error: cut };
      progress.servedBy = lease.backend;
      if (tail.length > 0 || event.done || event.usageOnly || event.error !== undefined) {
        if (tail.length >= MAX_TAIL) return { kind: 'cut', error: streamCutError(lease.backend, 'STREAM_PROTOCOL', `sent more than ${MAX_TAIL} events after its usage or end`) };
        tail.push(event);
        if (event.error !== undefined) break; // the upstream gave up: what it delivered is charged
        continue;
      }
      lease.attempt.pause(); // the consumer's reading time is not the upstream's silence
      yield event;
      lease.attempt.resume();
    }
    return { kind: 'answered', reported, tail, failed: tail.some((e) => e.error !== undefined) };
  } catch (err) {
    return failedAttempt(call, lease, progress, attempts, err);
  } finally {
    if (!exhausted && iterator) {
      lease.attempt.abort(new Error('stream abandoned by the router'));
      try {
        iterator.return?.()?.catch?.(() => undefined);
      } catch {
        // a backend whose return() throws synchronously has nothing left to clean up
      }
    }
    lease.end();
  }
}
