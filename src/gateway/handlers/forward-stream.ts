import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { ForwardEvent, WireApi } from '../../core/types.js';
import type { ForwardCallRequest, RouterForwardChunk } from '../../router/router.js';
import { toHttpError, type HttpError } from '../http-error.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { anthropicErrorBody } from '../translate/anthropic-errors.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';
import type { ChatHandlerContext } from './chat-context.js';
import { writeSse, writeStreamHead } from './sse-out.js';

type Step = IteratorResult<RouterForwardChunk, void>;

/** `"usage":null`, which OpenAI puts on every chunk of a stream asked for its usage (a member after others, or the first). */
const NULL_USAGE = /,\s*"usage"\s*:\s*null(?=\s*[,}])|(?<=\{)\s*"usage"\s*:\s*null\s*,?/;

/**
 * How forwarded events go out: as the upstream sent them, except what the gateway itself asked for. When
 * it added `stream_options.include_usage` (the client did not ask), the usage chunk is not shown and the
 * `"usage":null` OpenAI adds to every other chunk is taken out again. A failure once the headers are out
 * goes as the API's own stream error event.
 */
export class EventWriter {
  /** Events written: a Responses error event's `sequence_number` follows them. */
  private written = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly api: WireApi,
    private readonly usageAdded: boolean,
  ) {}

  async write(event: ForwardEvent): Promise<void> {
    if (this.usageAdded && event.usageOnly) return;
    const data = this.usageAdded ? event.data.replace(NULL_USAGE, '') : event.data;
    this.written++;
    await writeSse(this.res, event.event === undefined ? `data: ${data}\n\n` : `event: ${event.event}\ndata: ${data}\n\n`);
  }

  /** The stream error event of the API (Anthropic's `error`, the Responses `error` event, OpenAI's `{"error":…}`). */
  errorFrame(err: HttpError): string {
    if (this.api === 'messages') return `event: error\ndata: ${JSON.stringify(anthropicErrorBody(err.status, err.message))}\n\n`;
    if (this.api === 'responses') {
      const event = { type: 'error', code: err.code, message: err.message, param: err.param, sequence_number: this.written };
      return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
    }
    return `data: ${JSON.stringify(err.body())}\n\n`;
  }
}

/** Pulls the next chunk; a failure once headers are out is sent as the API's error event and ends the answer. */
async function nextStep(ctx: ChatHandlerContext, res: ServerResponse, writer: EventWriter, iterator: AsyncIterator<RouterForwardChunk, void>, signal: AbortScope): Promise<Step | 'gone' | 'ended'> {
  try {
    return await iterator.next();
  } catch (err) {
    if (signal.aborted || res.destroyed) return 'gone';
    const mapped = toHttpError(err, { publicThreadId: (id) => splitScopedThreadId(id).threadId });
    ctx.onError(err, mapped);
    res.end(writer.errorFrame(mapped));
    return 'ended';
  }
}

/** The end: the charge stored (else an error event), then the held-back last events. False when ended with an error. */
async function finish(ctx: ChatHandlerContext, res: ServerResponse, writer: EventWriter, end: Extract<RouterForwardChunk, { type: 'usage' }>): Promise<void> {
  try {
    await ctx.durable(end.event);
  } catch (err) {
    const mapped = storeFailed(err);
    ctx.onError(err, mapped);
    res.end(writer.errorFrame(mapped));
    return;
  }
  for (const event of end.tail) await writer.write(event);
  res.end();
}

/**
 * Streams a forwarded call: the upstream's events as it sent them, its last events only once the usage
 * event is stored. The first event is pulled before any header goes out, so that a refusal (429), an
 * unknown model or an upstream failing before its answer still gets a proper status and JSON error.
 */
export async function streamForward(ctx: ChatHandlerContext, res: ServerResponse, request: ForwardCallRequest, usageAdded: boolean, signal: AbortScope): Promise<void> {
  const iterator = ctx.router.forwardStream(request)[Symbol.asyncIterator]();
  let step: Step;
  try {
    step = await iterator.next();
  } catch (err) {
    budgetHeadersFromRefusal(res, err);
    throw err;
  }
  let finished = false;
  try {
    if (signal.aborted || res.destroyed) return;
    await writeStreamHead(ctx, res, request.threadId);
    const writer = new EventWriter(res, request.api, usageAdded);
    while (!step.done) {
      if (signal.aborted || res.destroyed) return;
      const chunk = step.value;
      if ('type' in chunk && chunk.type === 'usage') {
        finished = true;
        await finish(ctx, res, writer, chunk);
        return;
      }
      await writer.write(chunk as ForwardEvent);
      if (signal.aborted || res.destroyed) return;
      const next = await nextStep(ctx, res, writer, iterator, signal);
      if (typeof next === 'string') {
        finished = next === 'ended';
        return;
      }
      step = next;
    }
  } finally {
    // Always: a router generator paused at its last chunk runs its `finally` (frees the call's timer and
    // scope) only when returned. When the client left, this also stops reading upstream and the router
    // charges what was delivered.
    await iterator.return?.(undefined).catch(() => undefined);
    if (!finished && !res.writableEnded) res.destroy();
  }
}
