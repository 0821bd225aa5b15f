import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbortScope, withCallAbort } from '../../core/abort.js';
import type { CompletionRequest } from '../../core/types.js';
import { resolveCaller, type Caller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { readJsonText } from '../read-body.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { messagesBodyToRequest } from '../translate/messages-to-neutral.js';
import { messageJson } from '../translate/neutral-to-messages.js';
import { backendLabel } from '../translate/untranslatable.js';
import { readMessages } from './api-bodies.js';
import { callIdentity } from './call-identity.js';
import type { ChatHandlerContext } from './chat-context.js';
import { chargedAnswer } from './charged-answer.js';
import { forwardCall } from './forward-call.js';
import { streamMessages } from './messages-sse.js';

/** Authenticates an Anthropic route (the key as `x-api-key` or Bearer; errors in Anthropic's shape). */
function anthropicCaller(gw: GatewayContext, ex: Exchange): Caller {
  ex.errorShape = 'anthropic';
  const { caller } = resolveCaller(gw.keys, ex.req, true);
  if (!gw.readiness.state.ready) throw gw.readiness.notReadyError();
  return caller;
}

/**
 * A Messages request for a model served only by backends that do not speak it (OpenAI-compatible): the
 * body translated to a router request (a 400 names every field that cannot be), the answer written back
 * in Anthropic's format, JSON or SSE.
 */
async function translatedMessages(ctx: ChatHandlerContext, req: IncomingMessage, res: ServerResponse, caller: Caller, closeHook: { onClose: (() => void) | undefined }, raw: unknown, label: string): Promise<void> {
  const translated = messagesBodyToRequest(raw, label);
  const request: CompletionRequest = { ...translated.request, ...callIdentity(req, caller, ctx.requireThread, translated.user) };
  if (request.threadId !== undefined) {
    ctx.live.touch(request.threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(request.threadId).threadId);
  }
  if (!translated.stream) {
    const result = await chargedAnswer(ctx, res, () => ctx.router.complete(request));
    if (result !== undefined) sendJson(res, 200, messageJson(result, request.model));
    return;
  }
  const abort = new AbortScope(undefined);
  closeHook.onClose = (): void => {
    if (!res.writableEnded) abort.abort(new Error('client disconnected'));
  };
  withCallAbort(request, abort);
  await streamMessages(ctx, res, request, abort);
}

/**
 * `POST /v1/messages` (Anthropic's Messages API, plain and SSE). Forwarded unchanged to an Anthropic
 * backend (its key upstream; the client's `anthropic-version` and `anthropic-beta` passed on), or
 * translated for a model only an OpenAI-compatible backend serves. Budgeted and metered like chat.
 */
export async function messages(gw: GatewayContext, ex: Exchange): Promise<void> {
  const caller = anthropicCaller(gw, ex);
  const { json: raw, text } = await readJsonText(ex.req, gw.bodyLimit);
  const call = readMessages(raw);
  if (gw.router.speaks(call.model, 'messages')) return forwardCall(gw, ex, caller, call, text);
  const serving = gw.router.backends.find((b) => b.servesModel(call.model));
  if (serving === undefined) return forwardCall(gw, ex, caller, call, text); // the router's 404
  return translatedMessages(gw, ex.req, ex.res, caller, ex, raw, backendLabel(serving));
}

/**
 * `POST /v1/messages/count_tokens`: forwarded unchanged to an Anthropic backend (not charged: Anthropic
 * does not charge it); for a model only other backends serve, the gateway's own estimate of the prompt.
 */
export async function countTokens(gw: GatewayContext, ex: Exchange): Promise<void> {
  const caller = anthropicCaller(gw, ex);
  const { json, text } = await readJsonText(ex.req, gw.bodyLimit);
  const call = readMessages(json, 'count_tokens');
  const served = gw.router.backends.some((b) => b.servesModel(call.model));
  // Natively, or (no backend serves the model) for the router's 404.
  if (gw.router.speaks(call.model, 'count_tokens') || !served) return forwardCall(gw, ex, caller, call, text);
  sendJson(ex.res, 200, { input_tokens: call.inputTokens });
}
