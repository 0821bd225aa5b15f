import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import type { RouterStreamChunk } from '../../router/router.js';
import type { HttpError } from '../http-error.js';
import { anthropicErrorEvent } from '../translate/anthropic-errors.js';
import { MessagesStreamTranslator } from '../translate/messages-stream.js';
import type { ChatHandlerContext } from './chat-context.js';
import { writeSse } from './sse-out.js';
import { driveStream, stored, type StreamOut } from './stream-driver.js';

/** Router chunks as Anthropic SSE events; the usage chunk (which ends the message) only once its event is stored. */
class MessagesWriter implements StreamOut<RouterStreamChunk> {
  private readonly sse: MessagesStreamTranslator;

  constructor(
    private readonly ctx: ChatHandlerContext,
    private readonly res: ServerResponse,
    model: string,
  ) {
    this.sse = new MessagesStreamTranslator({ model });
  }

  async write(chunk: RouterStreamChunk): Promise<'more' | 'end'> {
    if (chunk.type === 'usage' && !(await stored(this.ctx, this.res, this, chunk.event))) return 'end';
    await writeSse(this.res, this.sse.push(chunk));
    return 'more';
  }

  errorFrame(err: HttpError): string {
    return anthropicErrorEvent(err.status, err.message);
  }

  close(): string {
    return this.sse.end();
  }
}

/**
 * Streams a translated Messages call (a model served by an OpenAI-compatible backend) as Anthropic SSE
 * events; `message_stop` goes out only once the usage event is stored (see driveStream).
 */
export function streamMessages(ctx: ChatHandlerContext, res: ServerResponse, request: CompletionRequest, signal: AbortScope): Promise<void> {
  return driveStream(ctx, res, request, () => ctx.router.stream(request)[Symbol.asyncIterator](), signal, () => new MessagesWriter(ctx, res, request.model));
}
