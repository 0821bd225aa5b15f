import type { ServerResponse } from 'node:http';
import type { AbortScope } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import type { RouterStreamChunk } from '../../router/router.js';
import { toHttpError } from '../http-error.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { anthropicErrorEvent } from '../translate/anthropic-errors.js';
import { MessagesStreamTranslator } from '../translate/messages-stream.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';
import type { ChatHandlerContext } from './chat-context.js';
import { writeSse, writeStreamHead } from './sse-out.js';

type Step = IteratorResult<RouterStreamChunk, void>;

/** The next chunk, or the error event that ends the answer (`'ended'`), or `'gone'` when the client left. */
async function nextStep(ctx: ChatHandlerContext, res: ServerResponse, iterator: AsyncIterator<RouterStreamChunk, void>, signal: AbortScope): Promise<Step | 'gone' | 'ended'> {
  try {
    return await iterator.next();
  } catch (err) {
    if (signal.aborted || res.destroyed) return 'gone';
    const mapped = toHttpError(err, { publicThreadId: (id) => splitScopedThreadId(id).threadId });
    ctx.onError(err, mapped);
    res.end(anthropicErrorEvent(mapped.status, mapped.message));
    return 'ended';
  }
}

/** Writes one chunk; the usage chunk only once its event is stored (else an error event ends the answer: false). */
async function writeChunk(ctx: ChatHandlerContext, res: ServerResponse, sse: MessagesStreamTranslator, chunk: RouterStreamChunk): Promise<boolean> {
  if (chunk.type === 'usage') {
    try {
      await ctx.durable(chunk.event);
    } catch (err) {
      const mapped = storeFailed(err);
      ctx.onError(err, mapped);
      res.end(anthropicErrorEvent(mapped.status, mapped.message));
      return false;
    }
  }
  await writeSse(res, sse.push(chunk));
  return true;
}

/**
 * Streams a translated Messages call (a model served by an OpenAI-compatible backend) as Anthropic SSE
 * events. The first chunk is pulled before any header goes out (a refusal is a proper 429 JSON error);
 * `message_stop` goes out only once the usage event is stored.
 */
export async function streamMessages(ctx: ChatHandlerContext, res: ServerResponse, request: CompletionRequest, signal: AbortScope): Promise<void> {
  const iterator = ctx.router.stream(request)[Symbol.asyncIterator]();
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
    const sse = new MessagesStreamTranslator({ model: request.model });
    while (!step.done) {
      if (signal.aborted || res.destroyed) return;
      if (!(await writeChunk(ctx, res, sse, step.value))) {
        finished = true;
        return;
      }
      const next = await nextStep(ctx, res, iterator, signal);
      if (typeof next === 'string') {
        finished = next === 'ended';
        return;
      }
      step = next;
    }
    res.end(sse.end());
    finished = true;
  } finally {
    // Always (see forward-stream.ts): returning the router's generator frees its call.
    await iterator.return?.(undefined).catch(() => undefined);
    if (!finished && !res.writableEnded) res.destroy();
  }
}
