import type { IncomingMessage } from 'node:http';
import { isPlainObject } from '../../core/objects.js';
import type { EmbeddingRequest } from '../../router/router.js';
import { embeddingInputTokens } from '../../tokens/embedding-input.js';
import { resolveCaller, type Caller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { readJsonText } from '../read-body.js';
import type { ApiCall } from './api-bodies.js';
import { forwardCall } from './forward-call.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { callIdentity } from './call-identity.js';
import type { ChatHandlerContext } from './chat-context.js';
import { bodyModel, bodyUser, fail } from '../body-fields.js';
import { chargedAnswer } from './charged-answer.js';

const INPUT_SHAPES = 'must be a non-empty string, or a non-empty array of non-empty strings, of token ids, or of non-empty arrays of token ids';

/**
 * Reads what the gateway needs of an embeddings body (`model`, `input` for the estimate, `user`) and
 * checks it, 400s naming the field; the body itself goes to the backend unchanged.
 */
function embeddingRequest(req: IncomingMessage, body: unknown, caller: Caller, requireThread: boolean): EmbeddingRequest {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);
  const model = bodyModel(body);
  const inputTokens = embeddingInputTokens(body.input, model);
  if (inputTokens === undefined) fail('input', INPUT_SHAPES, body.input);
  const user = bodyUser(body);
  return { model, body, inputTokens, ...callIdentity(req, caller, requireThread, user) };
}

/**
 * `POST /v1/embeddings`: checks `model` and `input`, calls the router (which reserves the input estimate
 * in the thread's budget before any provider is contacted, and charges the provider's `prompt_tokens`),
 * waits for the usage event to be stored, and answers the provider's body as it sent it.
 */
async function handleEmbeddings(ctx: ChatHandlerContext, ex: Exchange, caller: Caller): Promise<void> {
  const { req, res } = ex;
  const { json, text } = await readJsonText(req, ctx.bodyLimit);
  const request = embeddingRequest(req, json, caller, ctx.requireThread);
  if (ctx.router.speaks(request.model, 'embeddings')) {
    // Passed through like every API a backend speaks: the client's bytes up, the upstream's bytes back.
    const call: ApiCall = { api: 'embeddings', body: request.body, model: request.model, inputTokens: request.inputTokens, choices: 1, stream: false, includeUsage: false, hiddenContext: false };
    const user = bodyUser(request.body);
    if (user !== undefined) call.user = user;
    await forwardCall(ctx, ex, caller, call, text);
    return;
  }
  if (request.threadId !== undefined) {
    ctx.live.touch(request.threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(request.threadId).threadId);
  }
  const result = await chargedAnswer(ctx, res, () => ctx.router.embed(request));
  if (result === undefined) return;
  sendJson(res, 200, result.body);
}

/** `POST /v1/embeddings` as a route: authenticates, then refuses (503) while the store or ledger is not ready. */
export function embeddings(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  if (!gw.readiness.state.ready) throw gw.readiness.notReadyError();
  return handleEmbeddings(gw, ex, caller);
}
