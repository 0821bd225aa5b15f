import { AbortScope, withCallAbort } from '../../core/abort.js';
import { bodyPromptCeiling } from '../../router/plausibility.js';
import type { ForwardCallRequest } from '../../router/router.js';
import type { Caller } from '../caller.js';
import type { Exchange } from '../route-table.js';
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

/** What goes upstream: the body, its JSON text when the client's bytes can go as they are, and whether usage was asked for. */
interface SentBody {
  body: Record<string, unknown>;
  rawBody: string | undefined;
  usageAdded: boolean;
}

const INCLUDE_USAGE = ',"stream_options":{"include_usage":true}';

/**
 * The body sent upstream: the client's bytes, unchanged, except that a chat or completions stream whose
 * client did not ask for usage asks for it (the gateway meters by it; the client is not shown it). That is
 * one member added at the end of the client's text, so nothing else is re-serialised (a `seed` beyond 2^53
 * keeps its digits); only a body with a `stream_options` of its own is rewritten as a whole.
 */
function sentBody(call: ApiCall, text: string): SentBody {
  if (!call.stream || call.includeUsage || (call.api !== 'chat' && call.api !== 'completions')) return { body: call.body, rawBody: text, usageAdded: false };
  const options = call.body.stream_options;
  if (options === undefined) {
    const end = text.lastIndexOf('}'); // a JSON object's text ends in its closing brace (then whitespace)
    return { body: { ...call.body, stream_options: { include_usage: true } }, rawBody: text.slice(0, end) + INCLUDE_USAGE + text.slice(end), usageAdded: true };
  }
  const streamOptions = options !== null && typeof options === 'object' ? { ...options, include_usage: true } : { include_usage: true };
  return { body: { ...call.body, stream_options: streamOptions }, rawBody: undefined, usageAdded: true };
}

function forwardRequest(ex: Pick<Exchange, 'req' | 'query'>, call: ApiCall, body: Record<string, unknown>, rawBody: string | undefined, caller: Caller, requireThread: boolean): ForwardCallRequest {
  const { req } = ex;
  const request: ForwardCallRequest = {
    api: call.api,
    model: call.model,
    body,
    inputTokens: call.inputTokens,
    choices: call.choices,
    ...callIdentity(req, caller, requireThread, call.user),
  };
  if (rawBody !== undefined) request.rawBody = rawBody;
  if (ex.query !== '') request.query = ex.query;
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
  ex: Pick<Exchange, 'req' | 'res' | 'query' | 'onClose'>,
  caller: Caller,
  call: ApiCall,
  text: string,
): Promise<void> {
  const { res } = ex;
  const { body, rawBody, usageAdded } = sentBody(call, text);
  const request = forwardRequest(ex, call, body, rawBody, caller, ctx.requireThread);
  if (request.threadId !== undefined) {
    ctx.live.touch(request.threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(request.threadId).threadId);
  }
  if (call.api === 'count_tokens') {
    const answer = await ctx.router.forwardUncharged(request);
    if (answer.rawBody !== undefined) sendJsonText(res, 200, answer.rawBody);
    else sendJson(res, 200, answer.body);
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
  ex.onClose = (): void => {
    if (!res.writableEnded) abort.abort(new Error('client disconnected'));
  };
  withCallAbort(request, abort);
  await streamForward(ctx, res, request, usageAdded, abort);
}
