import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import type { RouterStreamChunk } from '../../router/router.js';
import type { HttpError } from '../http-error.js';
import type { ChatHandlerContext } from './chat-context.js';
import { chunkJson, openAIUsage } from './openai-format.js';
import { writeSse } from './sse-out.js';
import { driveStream, stored, type StreamOut } from './stream-driver.js';

/** Router chunks as OpenAI chunk events: its ids, and whether the assistant role was sent yet. */
class ChunkWriter implements StreamOut<RouterStreamChunk> {
  private readonly id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private roleSent = false;

  constructor(
    private readonly ctx: ChatHandlerContext,
    private readonly res: ServerResponse,
    private readonly model: string,
    private readonly includeUsage: boolean,
  ) {}

  /** One router chunk; the usage chunk (when asked for) only once the usage event is stored. */
  async write(chunk: RouterStreamChunk): Promise<'more' | 'end'> {
    if (chunk.type === 'delta') await this.delta(chunk);
    else if (chunk.type === 'finish') await this.finish(chunk.finishReason);
    else if (chunk.type === 'usage') {
      if (!(await stored(this.ctx, this.res, this, chunk.event))) return 'end';
      if (this.includeUsage) await this.chunk([], openAIUsage(chunk.usage));
    }
    return 'more';
  }

  errorFrame(err: HttpError): string {
    return `data: ${JSON.stringify(err.body())}\n\n`;
  }

  close(): string {
    return 'data: [DONE]\n\n';
  }

  /** Writes one chunk event; waits while the socket's buffer is full. */
  private async chunk(choices: unknown[], usage?: Record<string, unknown>): Promise<void> {
    await writeSse(this.res, chunkJson(this.id, this.created, this.model, choices, usage));
  }

  private async delta(chunk: Extract<RouterStreamChunk, { type: 'delta' }>): Promise<void> {
    const delta: Record<string, unknown> = this.roleSent ? {} : { role: 'assistant' };
    this.roleSent = true;
    if (typeof chunk.content === 'string') delta.content = chunk.content;
    if (chunk.toolCalls && chunk.toolCalls.length > 0) delta.tool_calls = chunk.toolCalls;
    await this.chunk([{ index: 0, delta, logprobs: null, finish_reason: null }]);
  }

  private async finish(finishReason: string | null | undefined): Promise<void> {
    if (!this.roleSent) {
      this.roleSent = true;
      await this.chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    }
    await this.chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason ?? 'stop' }]);
  }
}

/**
 * Streams a call as SSE `chat.completion.chunk`s ending in `data: [DONE]` (see driveStream for the first
 * chunk, the headers and the client leaving).
 */
export function streamCompletion(ctx: ChatHandlerContext, res: ServerResponse, includeUsage: boolean, request: CompletionRequest, signal: AbortScope): Promise<void> {
  return driveStream(ctx, res, request, () => ctx.router.stream(request)[Symbol.asyncIterator](), signal, () => new ChunkWriter(ctx, res, request.model, includeUsage));
}
