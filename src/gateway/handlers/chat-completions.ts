import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbortScope, withCallAbort } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import { resolveCaller, type Caller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { readJsonText } from '../read-body.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { callIdentity } from './call-identity.js';
import type { ChatHandlerContext } from './chat-context.js';
import { chargedAnswer } from './charged-answer.js';
import { streamCompletion } from './chat-stream.js';
import { chatBodyToRequest } from '../translate/chat-to-neutral.js';
import { backendLabel } from '../translate/untranslatable.js';
import { completionJson } from './openai-format.js';
import { readChat } from './api-bodies.js';
import { forwardCall } from './forward-call.js';

/**
 * `POST /v1/chat/completions`. For a model whose backend speaks chat natively (OpenAI-compatible, mock),
 * the body is forwarded unchanged and the answer sent back as the upstream sent it (see forwardCall).
 * Otherwise (an Anthropic backend, a library backend with only `complete`/`stream`) it is translated: the
 * body becomes a router request (a 400 names every field that cannot be translated), and the answer is
 * written in OpenAI's format — JSON, or SSE `chat.completion.chunk`s ending in `data: [DONE]`. Either way
 * the thread's budget is reserved before any provider is contacted and settled afterwards.
 */
async function handleChatCompletions(
  ctx: ChatHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  closeHook: Pick<Exchange, 'req' | 'res' | 'query' | 'onClose'>,
): Promise<void> {
  const { json: raw, text } = await readJsonText(req, ctx.bodyLimit);
  const call = readChat(raw);
  if (ctx.router.speaks(call.model, 'chat')) {
    await forwardCall(ctx, closeHook, caller, call, text);
    return;
  }
  const serving = ctx.router.backends.find((b) => b.servesModel(call.model));
  // No backend serves the model: translated all the same, and the router answers its 404.
  const translated = chatBodyToRequest(raw, serving ? backendLabel(serving) : 'none');
  const request: CompletionRequest = { ...translated.request, ...callIdentity(req, caller, ctx.requireThread, translated.user) };
  const threadId = request.threadId;
  if (threadId !== undefined) {
    ctx.live.touch(threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(threadId).threadId);
  }
  if (translated.stream) {
    // A stream stops when its client goes away (it is charged what was delivered). A scope rather than an
    // AbortController, which the router (and the provider's transport) only needs for the attempt itself.
    const abort = new AbortScope(undefined);
    const onClose = (): void => {
      if (!res.writableEnded) abort.abort(new Error('client disconnected'));
    };
    // The gateway's own 'close' listener calls the hook, saving a second listener per request.
    closeHook.onClose = onClose;
    withCallAbort(request, abort);
    await streamCompletion(ctx, res, translated.includeUsage, request, abort);
    return;
  }
  // A non-streaming call is not aborted when its client leaves: the provider is already working (and
  // billing) on it, so it is read to its end, bounded by the call's timeouts, and charged what the
  // provider reports. Only the answer is dropped.
  const result = await chargedAnswer(ctx, res, () => ctx.router.complete(request));
  if (result === undefined) return;
  sendJson(res, 200, completionJson(`chatcmpl-${result.event.id}`, Math.floor(result.event.timestamp / 1000), result));
}

/** `POST /v1/chat/completions` as a route: authenticates, then refuses (503) while the store or ledger is not ready. */
export function chatCompletions(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  // Refused before the body is read and before any provider is called.
  if (!gw.readiness.state.ready) throw gw.readiness.notReadyError();
  return handleChatCompletions(gw, ex.req, ex.res, caller, ex);
}
