import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import type { RouterStreamChunk } from '../../router/router.js';
import { toHttpError } from '../http-error.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';
import type { ChatHandlerContext } from './chat-context.js';
import { chunkJson, openAIUsage } from './openai-format.js';
import { drained, writeStreamHead } from './sse-out.js';

type Step = IteratorResult<RouterStreamChunk, void>;

/** The SSE side of one streamed answer: its ids, and whether the assistant role was sent yet. */
class ChunkWriter {
  private readonly id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private roleSent = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly model: string,
  ) {}

  /** Writes one chunk event; waits while the socket's buffer is full. */
  async write(choices: unknown[], usage?: Record<string, unknown>): Promise<void> {
    if (!this.res.write(chunkJson(this.id, this.created, this.model, choices, usage)) && !this.res.destroyed) await drained(this.res);
  }

  async delta(chunk: Extract<RouterStreamChunk, { type: 'delta' }>): Promise<void> {
    const delta: Record<string, unknown> = this.roleSent ? {} : { role: 'assistant' };
    this.roleSent = true;
    if (typeof chunk.content === 'string') delta.content = chunk.content;
    if (chunk.toolCalls && chunk.toolCalls.length > 0) delta.tool_calls = chunk.toolCalls;
    await this.write([{ index: 0, delta, logprobs: null, finish_reason: null }]);
  }

  async finish(finishReason: string | null | undefined): Promise<void> {
    if (!this.roleSent) {
      this.roleSent = true;
      await this.write([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    }
    await this.write([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason ?? 'stop' }]);
  }
}

/**
 * Writes one router chunk. Returns false when the answer was ended here (the usage event could not be
 * stored: the call is reported as failed in an SSE error event).
 */
async function writeChunk(ctx: ChatHandlerContext, res: ServerResponse, includeUsage: boolean, sse: ChunkWriter, chunk: RouterStreamChunk): Promise<boolean> {
  if (chunk.type === 'delta') await sse.delta(chunk);
  else if (chunk.type === 'finish') await sse.finish(chunk.finishReason);
  else if (chunk.type === 'usage') {
    try {
      await ctx.durable(chunk.event);
    } catch (err) {
      const mapped = storeFailed(err);
      ctx.onError(err, mapped);
      res.end(`data: ${JSON.stringify(mapped.body())}\n\n`);
      return false;
    }
    if (includeUsage) await sse.write([], openAIUsage(chunk.usage));
  }
  return true;
}

/** Pulls the next chunk; a failure once headers are out is reported as an SSE error event (OpenAI's shape) and ends the answer. */
async function nextStep(ctx: ChatHandlerContext, res: ServerResponse, iterator: AsyncIterator<RouterStreamChunk, void>, signal: AbortScope): Promise<Step | 'gone' | 'ended'> {
  try {
    return await iterator.next();
  } catch (err) {
    if (signal.aborted || res.destroyed) return 'gone';
    const mapped = toHttpError(err, { publicThreadId: (id) => splitScopedThreadId(id).threadId });
    ctx.onError(err, mapped);
    res.write(`data: ${JSON.stringify(mapped.body())}\n\n`);
    res.end();
    return 'ended';
  }
}

/**
 * Streams a call as SSE `chat.completion.chunk`s ending in `data: [DONE]`. The first chunk is pulled
 * before any header goes out, so that a refusal (429), an unknown model or a provider that fails before
 * its first token still gets a proper status and JSON error body.
 */
export async function streamCompletion(ctx: ChatHandlerContext, res: ServerResponse, includeUsage: boolean, request: CompletionRequest, signal: AbortScope): Promise<void> {
  const iterator = ctx.router.stream(request)[Symbol.asyncIterator]();
  let step: Step;
  try {
    step = await iterator.next();
  } catch (err) {
    budgetHeadersFromRefusal(res, err);
    throw err;
  }
  if (signal.aborted || res.destroyed) {
    await iterator.return?.(undefined).catch(() => undefined);
    return;
  }
  let finished = false;
  try {
    await writeStreamHead(ctx, res, request.threadId);
    const sse = new ChunkWriter(res, request.model);
    while (!step.done) {
      if (signal.aborted || res.destroyed) break;
      if (!(await writeChunk(ctx, res, includeUsage, sse, step.value))) {
        finished = true;
        await iterator.return?.(undefined).catch(() => undefined);
        return;
      }
      if (signal.aborted || res.destroyed) break;
      const next = await nextStep(ctx, res, iterator, signal);
      if (next === 'ended') finished = true;
      if (typeof next === 'string') break;
      step = next;
    }
    if (step.done && !res.destroyed) {
      res.end('data: [DONE]\n\n');
      finished = true;
    }
  } finally {
    if (!finished) {
      // The client left (or writing failed): stop reading upstream. The router's generator settles the
      // reservation to what was delivered and records the event in its own `finally`.
      await iterator.return?.(undefined).catch(() => undefined);
      if (!res.writableEnded) res.destroy();
    }
  }
}
