import type { ServerResponse } from 'node:http';
import type { PolicyStanding } from '../../budget/policy-types.js';
import type { AbortScope } from '../../core/abort.js';
import type { RouterCallHooks } from '../../router/router.js';
import type { UsageEvent } from '../../usage/types.js';
import { setPolicyHeaders } from '../budget-headers.js';
import { toHttpError, type HttpError } from '../http-error.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';
import type { ChatHandlerContext } from './chat-context.js';
import { writeStreamHead } from './sse-out.js';

/** One kind of streamed answer (forwarded events, OpenAI chunks, Anthropic events): how the router's chunks are written. */
export interface StreamOut<C> {
  /** Writes one chunk; `'end'` when the answer was ended here (its last events, or an error event). */
  write(chunk: C): Promise<'more' | 'end'>;
  /** The API's stream error event, for a failure once the headers are out. */
  errorFrame(err: HttpError): string;
  /** What ends an answer whose chunks ran out (`data: [DONE]`, `message_stop`, or nothing). */
  close(): string;
}

const publicThreadId = (id: string): string => splitScopedThreadId(id).threadId;

/**
 * Waits until the call's usage event is stored; when it cannot be, ends the answer with an error event
 * (the call is reported as failed, never acknowledged unbilled) and returns false.
 */
export async function stored(ctx: ChatHandlerContext, res: ServerResponse, out: Pick<StreamOut<unknown>, 'errorFrame'>, event: UsageEvent): Promise<boolean> {
  try {
    await ctx.durable(event);
    return true;
  } catch (err) {
    const mapped = storeFailed(err);
    ctx.onError(err, mapped);
    res.end(out.errorFrame(mapped));
    return false;
  }
}

/**
 * Streams a router call to the client: the one loop every streamed API shares. The first chunk is pulled
 * before any header goes out, so that a refusal (429), an unknown model or an upstream failing before its
 * answer still gets a proper status and JSON error; then the SSE headers (with the thread's budget), the
 * chunks as `open()`'s writer writes them (the policies' `x-budget-*` and `x-ratelimit-*` headers are where
 * they stood with the call's hold, from the router's `onReserved`, set on `request` here before `start()`), and a failure once the headers are out as the API's error event.
 * The router's generator is always returned at the end: when the client left, that stops the upstream and
 * charges what was delivered; when the answer is complete, it frees the call.
 */
export async function driveStream<C>(
  ctx: ChatHandlerContext,
  res: ServerResponse,
  request: RouterCallHooks & { threadId?: string | undefined },
  start: () => AsyncIterator<C, void>,
  signal: AbortScope,
  open: () => StreamOut<C>,
): Promise<void> {
  let held: PolicyStanding[] | undefined;
  request.onReserved = (standings) => (held = standings);
  const threadId = request.threadId;
  const iterator = start();
  let step: IteratorResult<C, void>;
  try {
    step = await iterator.next();
  } catch (err) {
    budgetHeadersFromRefusal(res, err);
    throw err;
  }
  let finished = false;
  try {
    if (signal.aborted || res.destroyed) return;
    setPolicyHeaders(res, held);
    await writeStreamHead(ctx, res, threadId);
    const out = open();
    while (!step.done) {
      if (signal.aborted || res.destroyed) return;
      if ((await out.write(step.value)) === 'end') {
        finished = true;
        return;
      }
      if (signal.aborted || res.destroyed) return;
      try {
        step = await iterator.next();
      } catch (err) {
        if (signal.aborted || res.destroyed) return;
        const mapped = toHttpError(err, { publicThreadId });
        ctx.onError(err, mapped);
        res.end(out.errorFrame(mapped));
        finished = true;
        return;
      }
    }
    res.end(out.close());
    finished = true;
  } finally {
    await iterator.return?.(undefined).catch(() => undefined);
    if (!finished && !res.writableEnded) res.destroy();
  }
}
