import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject } from '../../core/objects.js';
import type { EmbeddingRequest, RouterEmbedding } from '../../router/router.js';
import { embeddingInputTokens } from '../../tokens/embedding-input.js';
import { textProblem } from '../../usage/event-fields.js';
import { resolveCaller, type Caller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { badRequest } from '../http-error.js';
import { readJsonBody } from '../read-body.js';
import { sendJson, setBudgetHeaders } from '../respond.js';
import type { Exchange } from '../route-table.js';
import { splitScopedThreadId } from '../thread-scope.js';
import { callIdentity } from './call-identity.js';
import type { ChatHandlerContext } from './chat-context.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';

const MAX_MODEL_LENGTH = 256;
const MAX_USER_LENGTH = 256;
const INPUT_SHAPES = 'must be a non-empty string, or a non-empty array of non-empty strings, of token ids, or of non-empty arrays of token ids';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function fail(param: string, problem: string, value: unknown): never {
  throw badRequest(param, `${param}: ${problem} (got ${describe(value)})`);
}

/**
 * Reads what the gateway needs of an embeddings body (`model`, `input` for the estimate, `user`) and
 * checks it, 400s naming the field; the body itself goes to the backend unchanged.
 */
function embeddingRequest(req: IncomingMessage, body: unknown, caller: Caller, requireThread: boolean): EmbeddingRequest {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);
  const model = body.model;
  if (typeof model !== 'string') fail('model', `must be a non-empty string of at most ${MAX_MODEL_LENGTH} characters`, model);
  const modelProblem = textProblem(model, MAX_MODEL_LENGTH);
  if (modelProblem) fail('model', modelProblem, model);
  const inputTokens = embeddingInputTokens(body.input, model);
  if (inputTokens === undefined) fail('input', INPUT_SHAPES, body.input);
  let user: string | undefined;
  if (body.user !== undefined && body.user !== null) {
    if (typeof body.user !== 'string') fail('user', `must be a string of at most ${MAX_USER_LENGTH} characters`, body.user);
    const userProblem = body.user.length > 0 ? textProblem(body.user, MAX_USER_LENGTH) : undefined;
    if (userProblem) fail('user', userProblem, body.user);
    if (body.user.length > 0) user = body.user;
  }
  return { model, body, inputTokens, ...callIdentity(req, caller, requireThread, user) };
}

/**
 * `POST /v1/embeddings`: checks `model` and `input`, calls the router (which reserves the input estimate
 * in the thread's budget before any provider is contacted, and charges the provider's `prompt_tokens`),
 * waits for the usage event to be stored, and answers the provider's body as it sent it.
 */
async function handleEmbeddings(ctx: ChatHandlerContext, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
  const request = embeddingRequest(req, await readJsonBody(req, ctx.bodyLimit), caller, ctx.requireThread);
  if (request.threadId !== undefined) {
    ctx.live.touch(request.threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(request.threadId).threadId);
  }
  let result: RouterEmbedding;
  try {
    result = await ctx.router.embed(request);
  } catch (err) {
    budgetHeadersFromRefusal(res, err);
    throw err;
  }
  try {
    await ctx.durable(result.event);
  } catch (err) {
    throw storeFailed(err);
  }
  if (res.destroyed) return;
  const usage = result.budget?.usage;
  if (usage) setBudgetHeaders(res, usage);
  sendJson(res, 200, result.body);
}

/** `POST /v1/embeddings` as a route: authenticates, then refuses (503) while the store or ledger is not ready. */
export function embeddings(gw: GatewayContext, ex: Exchange): Promise<void> {
  const { caller } = resolveCaller(gw.keys, ex.req);
  if (!gw.readiness.state.ready) throw gw.readiness.notReadyError();
  return handleEmbeddings(gw, ex.req, ex.res, caller);
}
