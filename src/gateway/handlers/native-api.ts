import type { WireApi } from '../../core/types.js';
import { resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { badRequest } from '../http-error.js';
import { readJsonText } from '../read-body.js';
import type { Exchange, RouteHandler } from '../route-table.js';
import type { ApiCall } from './api-bodies.js';
import type { ChatHandlerContext } from './chat-context.js';
import { forwardCall } from './forward-call.js';

const API_NAMES: Record<WireApi, string> = {
  chat: 'Chat Completions',
  responses: 'Responses',
  completions: 'legacy Completions',
  embeddings: 'Embeddings',
  messages: 'Anthropic Messages',
  count_tokens: 'Anthropic token counting',
};

/**
 * The 400 for a model whose backends do not speak the API asked for (a Responses call for a model only an
 * Anthropic backend serves); `undefined` when no backend serves the model (the router's 404 says so).
 */
function apiNotSpoken(ctx: Pick<ChatHandlerContext, 'router'>, api: WireApi, model: string, hint: string): Error | undefined {
  const serving = ctx.router.backends.filter((b) => b.servesModel(model));
  if (serving.length === 0) return undefined;
  const names = serving.map((b) => `"${b.name}" (${b.provider})`).join(', ');
  return badRequest('model', `model: ${JSON.stringify(model)} is served by ${names}, which cannot take the ${API_NAMES[api]} API; ${hint}`, 'unsupported_api');
}

/**
 * A route for an API that is only ever forwarded (Responses, legacy completions): authenticates, refuses
 * (503) while the store or ledger is not ready, reads what metering needs, and forwards the body unchanged
 * to a backend speaking the API; a model whose backends do not speak it is a 400 naming them.
 */
export function nativeRoute(read: (body: unknown) => ApiCall, hint: string): RouteHandler {
  return async (gw: GatewayContext, ex: Exchange): Promise<void> => {
    const { caller } = resolveCaller(gw.keys, ex.req);
    if (!gw.readiness.state.ready) throw gw.readiness.notReadyError();
    const { json, text } = await readJsonText(ex.req, gw.bodyLimit);
    const call = read(json);
    if (!gw.router.speaks(call.model, call.api)) {
      const refusal = apiNotSpoken(gw, call.api, call.model, hint);
      if (refusal) throw refusal;
    }
    await forwardCall(gw, ex, caller, call, text);
  };
}
