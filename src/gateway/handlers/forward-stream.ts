import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { ForwardEvent, WireApi } from '../../core/types.js';
import type { ForwardCallRequest, RouterForwardChunk } from '../../router/router.js';
import type { HttpError } from '../http-error.js';
import { anthropicErrorBody } from '../translate/anthropic-errors.js';
import type { ChatHandlerContext } from './chat-context.js';
import { writeSse } from './sse-out.js';
import { driveStream, stored, type StreamOut } from './stream-driver.js';

/** `"usage":null`, which OpenAI puts on every chunk of a stream asked for its usage (a member after others, or the first). */
const NULL_USAGE = /,\s*"usage"\s*:\s*null(?=\s*[,}])|(?<=\{)\s*"usage"\s*:\s*null\s*,?/;

/**
 * How forwarded events go out: as the upstream sent them, except what the gateway itself asked for. When
 * it added `stream_options.include_usage` (the client did not ask), the usage chunk is not shown and the
 * `"usage":null` OpenAI adds to every other chunk is taken out again. A failure once the headers are out
 * goes as the API's own stream error event.
 */
export class EventWriter implements StreamOut<RouterForwardChunk> {
  /** Events written: a Responses error event's `sequence_number` follows them. */
  private written = 0;

  constructor(
    private readonly ctx: ChatHandlerContext,
    private readonly res: ServerResponse,
    private readonly api: WireApi,
    private readonly usageAdded: boolean,
  ) {}

  /** An upstream event as sent; the end: the charge stored (else an error event), then the held-back last events. */
  async write(chunk: RouterForwardChunk): Promise<'more' | 'end'> {
    if (!('type' in chunk && chunk.type === 'usage')) {
      await this.event(chunk as ForwardEvent);
      return 'more';
    }
    if (!(await stored(this.ctx, this.res, this, chunk.event))) return 'end';
    for (const event of chunk.tail) await this.event(event);
    this.res.end();
    return 'end';
  }

  close(): string {
    return '';
  }

  private async event(event: ForwardEvent): Promise<void> {
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

/**
 * Streams a forwarded call: the upstream's events as it sent them, its last events only once the usage
 * event is stored (see driveStream for the first event, the headers and the client leaving).
 */
export function streamForward(ctx: ChatHandlerContext, res: ServerResponse, request: ForwardCallRequest, usageAdded: boolean, signal: AbortScope): Promise<void> {
  return driveStream(ctx, res, request, () => ctx.router.forwardStream(request)[Symbol.asyncIterator](), signal, () => new EventWriter(ctx, res, request.api, usageAdded));
}
