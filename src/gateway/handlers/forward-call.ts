import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbortScope, withCallAbort } from '../../core/abort.js';
import { bodyPromptCeiling } from '../../router/plausibility.js';
import type { ForwardCallRequest } from '../../router/router.js';
import type { Caller } from '../caller.js';
import { sendJson, sendJsonText } from '../respond.js';
import { splitScopedThreadId } from '../thread-scope.js';
import type { ApiCall } from './api-bodies.js';
import { callIdentity } from './call-identity.js';
import type { ChatHandlerContext } from './chat-context.js';
import { chargedAnswer } from './charged-answer.js';
import { streamForward } from './forward-stream.js';

/** Context a prompt may hold beyond its body (`previous_response_id`): up to the largest context window. */
const HIDDEN_CONTEXT_TOKENS = 2_097_152;
/** Client headers passed on to an Anthropic upstream. */
const ANTHROPIC_HEADERS = ['anthropic-version', 'anthropic-beta'] as const;

/**
 * The body sent upstream: the client's, unchanged, except that a chat or completions stream whose client
 * did not ask for usage asks for it (the gateway meters by it; the client is not shown it).
 */
function sentBody(call: ApiCall): { body: Record<string, unknown>; usageAdded: boolean } {
  if (!call.stream || call.includeUsage || (call.api !== 'chat' && call.api !== 'completions')) return { body: call.body, usageAdded: false };
  const options = call.body.stream_options;
  const streamOptions = options !== null && typeof options === 'object' ? { ...options, include_usage: true } : { include_usage: true };
  return { body: { ...call.body, stream_options: streamOptions }, usageAdded: true };
}

function forwardRequest(req: IncomingMessage, call: ApiCall, body: Record<string, unknown>, rawBody: string | undefined, caller: Caller, requireThread: boolean): ForwardCallRequest {
  const request: ForwardCallRequest = {
    api: call.api,
    model: call.model,
    body,
    inputTokens: call.inputTokens,
    choices: call.choices,
    ...callIdentity(req, caller, requireThread, call.user),
  };
  if (rawBody !== undefined) request.rawBody = rawBody;
  if (call.maxOutputTokens !== undefined) request.maxOutputTokens = call.maxOutputTokens;
  if (call.hiddenContext) request.promptCeiling = bodyPromptCeiling(call.body, rawBody) + HIDDEN_CONTEXT_TOKENS;
  if (call.api === 'messages' || call.api === 'count_tokens') {
    const headers: Record<string, string> = {};
    for (const name of ANTHROPIC_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    request.headers = headers;
  }
  return request;
}

/**
 * Forwards a call of a wire API a backend speaks natively: the body goes upstream unchanged, the thread's
 * budget is reserved first (refused: 429, no upstream call), and the answer goes back as the upstream sent
 * it, once its usage event is stored — JSON, or the upstream's SSE events with the last ones held back
 * until then. A stream whose client leaves is stopped and charged what was delivered.
 */
export async function forwardCall(
  ctx: ChatHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  closeHook: { onClose: (() => void) | undefined },
  call: ApiCall,
  text: string,
): Promise<void> {
  const { body, usageAdded } = sentBody(call);
  // The client's own bytes go upstream unless the gateway added to the body.
  const request = forwardRequest(req, call, body, usageAdded ? undefined : text, caller, ctx.requireThread);
  if (request.threadId !== undefined) {
    ctx.live.touch(request.threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(request.threadId).threadId);
  }
  if (call.api === 'count_tokens') {
    const { body: answer } = await ctx.router.forwardUncharged(request);
    sendJson(res, 200, answer);
    return;
  }
  if (!call.stream) {
    // Not aborted when the client leaves: the provider is already working (and billing) on it.
    const result = await chargedAnswer(ctx, res, () => ctx.router.forward(request));
    if (result === undefined) return;
    if (result.rawBody !== undefined) sendJsonText(res, 200, result.rawBody);
    else sendJson(res, 200, result.body);
    return;
  }
  const abort = new AbortScope(undefined);
  closeHook.onClose = (): void => {
    if (!res.writableEnded) abort.abort(new Error('client disconnected'));
  };
  withCallAbort(request, abort);
  await streamForward(ctx, res, request, usageAdded, abort);
}
