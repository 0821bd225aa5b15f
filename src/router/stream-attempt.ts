import { raceAbort } from '../core/abort.js';
import type { ProviderError } from '../core/errors.js';
import type { Backend, StreamChunk } from '../core/types.js';
import { toolCallText } from './accounting.js';
import type { AttemptLoop } from './attempt-loop.js';
import type { Lease } from './backend-pool.js';
import type { RouterCall } from './call.js';
import { streamCutError } from './errors.js';
import { OutputMeter } from './output-meter.js';

type Delta = Extract<StreamChunk, { type: 'delta' }>;
type Finish = Extract<StreamChunk, { type: 'finish' }>;

/** How one attempt of a stream ended. */
export type StreamAttemptEnd =
  | { kind: 'answered'; finish: Finish | undefined; reported: unknown }
  | { kind: 'retry' }
  | { kind: 'cut'; error: ProviderError };

/** What a stream has delivered so far, across its attempts. */
export class StreamProgress {
  readonly meter: OutputMeter;
  /** The backend that delivered text, once one has: failover stops, and the call will be charged. */
  servedBy: Backend | undefined;

  constructor(completionLimit: number) {
    this.meter = new OutputMeter(completionLimit);
  }

  /** Counts a delta from `backend`; returns the error that cuts the stream when it is past its output cap. */
  delivered(backend: Backend, chunk: Delta): ProviderError | undefined {
    this.servedBy = backend;
    const meter = this.meter;
    meter.add(typeof chunk.content === 'string' ? chunk.content : '');
    if (chunk.toolCalls) for (const tc of chunk.toolCalls) meter.add(toolCallText(tc));
    return this.capError(backend);
  }

  /** Counts text `backend` sent (a forwarded event's); the error that cuts the stream when past its cap. */
  deliveredText(backend: Backend, text: string): ProviderError | undefined {
    this.servedBy = backend;
    this.meter.add(text);
    return this.capError(backend);
  }

  private capError(backend: Backend): ProviderError | undefined {
    const meter = this.meter;
    if (!meter.pastCap) return undefined;
    const problem = `went on past the output cap of ${meter.cap} tokens (at least ${meter.minimumTokens} delivered)`;
    return streamCutError(backend, 'OUTPUT_CAP_EXCEEDED', problem);
  }
}

/**
 * The upstream side of one attempt: its iterator, what it sent besides deltas (finish, usage), and
 * whether it ran to its end. Closing an attempt that did not end aborts it and returns its iterator.
 */
class UpstreamStream {
  finish: Finish | undefined;
  reported: unknown;
  private iterator: AsyncIterator<StreamChunk> | undefined;
  private exhausted = false;

  constructor(private readonly lease: Lease) {}

  open(call: RouterCall): void {
    this.iterator = this.lease.backend.stream!(call.backendRequest(this.lease.attempt))[Symbol.asyncIterator]();
  }

  /** The next step (the attempt scope's abort or timeout rejects it). Not async: no extra tick per chunk. */
  next(): Promise<IteratorResult<StreamChunk>> {
    return raceAbort(this.iterator!.next(), this.lease.attempt);
  }

  /** The upstream ran to its end: nothing to abandon. */
  ended(): void {
    this.exhausted = true;
  }

  /** A chunk other than a delta: remembered (finish, usage), and it proves the upstream is alive. */
  noted(chunk: Exclude<StreamChunk, Delta>): void {
    if (chunk.type === 'finish') this.finish = chunk;
    else if (chunk.type === 'usage' && chunk.usage !== undefined && chunk.usage !== null) this.reported = chunk.usage;
    this.lease.attempt.touch();
  }

  close(): void {
    if (!this.exhausted && this.iterator) {
      this.lease.attempt.abort(new Error('stream abandoned by the router'));
      try {
        this.iterator.return?.()?.catch?.(() => undefined);
      } catch {
        // a backend whose return() throws synchronously has nothing left to clean up
      }
    }
    this.lease.end();
  }
}

/**
 * How a stream attempt that threw ends: cut (past the stream's duration cap, once it delivered), thrown
 * (it broke after delivering: no failover mid-answer), or another attempt (it broke before). Shared by
 * `streamAttempt` and the pass-through's `forwardStreamAttempt`.
 */
export function failedAttempt(call: RouterCall, lease: Lease, progress: StreamProgress, attempts: AttemptLoop, err: unknown): { kind: 'retry' } | { kind: 'cut'; error: ProviderError } {
  if (progress.servedBy && call.durationCapped && call.scope?.cause === 'timeout') {
    const problem = `was still streaming after ${call.timeoutMs} ms (maxStreamDurationMs)`;
    return { kind: 'cut', error: streamCutError(lease.backend, 'STREAM_TOO_LONG', problem) };
  }
  if (progress.servedBy) throw attempts.failedMidStream(call, lease, err);
  attempts.failed(call, lease, err);
  return { kind: 'retry' };
}

/**
 * One attempt of a stream: yields its deltas and says how it ended. A failure before any delta asks for
 * another attempt (or throws when the call must stop); after one, it is thrown (no failover mid-answer).
 */
export async function* streamAttempt(
  call: RouterCall,
  lease: Lease,
  progress: StreamProgress,
  attempts: AttemptLoop,
): AsyncGenerator<Delta, StreamAttemptEnd, undefined> {
  const upstream = new UpstreamStream(lease);
  try {
    upstream.open(call);
    for (;;) {
      const step = await upstream.next();
      if (step.done) break;
      const chunk = step.value;
      if (chunk.type !== 'delta') {
        upstream.noted(chunk);
        continue;
      }
      const cut = progress.delivered(lease.backend, chunk);
      if (cut) return { kind: 'cut', error: cut };
      // The consumer's reading time is not the upstream's silence.
      lease.attempt.pause();
      yield chunk;
      lease.attempt.resume();
    }
    upstream.ended();
    return { kind: 'answered', finish: upstream.finish, reported: upstream.reported };
  } catch (err) {
    return failedAttempt(call, lease, progress, attempts, err);
  } finally {
    upstream.close();
  }
}
