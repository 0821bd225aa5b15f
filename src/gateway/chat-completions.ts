import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ThreadUsage } from '../budget/types.js';
import { BudgetExhaustedError } from '../core/errors.js';
import type { LLMRouter, RouterResponse, RouterStreamChunk } from '../router/router.js';
import { AbortScope, withCallAbort } from '../core/abort.js';
import type { CompletionRequest, Metadata, TokenUsage } from '../core/types.js';
import type { UsageEvent } from '../usage/types.js';
import { parseChatRequest, type ChatRequestBody } from './chat-request.js';
import { HttpError, badRequest, toHttpError } from './http-error.js';
import type { Principal } from './key-ring.js';
import type { LiveThreads } from './live-threads.js';
import { readJsonBody } from './read-body.js';
import { sendJson, setBudgetHeaders } from './respond.js';
import { checkClientId, scopedThreadId, splitScopedThreadId } from './thread-scope.js';

/** Who is calling and in which org's namespace. */
export interface CallerScope {
  principal: Principal;
  /** Org whose thread namespace and billing the request uses (`null`: none). */
  org: string | null;
}

/** What the chat-completions handler needs from the gateway. */
export interface ChatHandlerContext {
  router: LLMRouter;
  live: LiveThreads;
  bodyLimit: number;
  requireThread: boolean;
  /** Called with each error answered to a client (metrics, logging of 500s). */
  onError(err: unknown, mapped: HttpError): void;
  /** Resolves once the call's usage event is in the store. */
  durable(event: UsageEvent): Promise<void>;
}

function storeFailed(err: unknown): HttpError {
  return new HttpError(
    503,
    'server_error',
    'usage_store_unavailable',
    // The store's own message may name files or another tenant's values: it goes to the gateway's log.
    `The call completed but its usage could not be stored, so it is not acknowledged (${storeErrorCode(err)}); the gateway's log has the details`,
  );
}

function storeErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : 'STORE_ERROR';
}

const PRINTABLE = /^[\x20-\x7e]{1,256}$/;

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function checkPrintable(param: string, value: string): string {
  if (!PRINTABLE.test(value)) {
    throw badRequest(param, `${param}: must be 1-256 printable ASCII characters (got ${JSON.stringify(value.slice(0, 40))})`, 'invalid_id');
  }
  return value;
}

/** OpenAI's usage object. */
export function openAIUsage(u: TokenUsage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
  };
  if (u.cachedPromptTokens !== undefined) out.prompt_tokens_details = { cached_tokens: u.cachedPromptTokens };
  if (u.reasoningTokens !== undefined) out.completion_tokens_details = { reasoning_tokens: u.reasoningTokens };
  return out;
}

function completionJson(id: string, created: number, r: RouterResponse): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: r.content, refusal: null };
  if (r.toolCalls && r.toolCalls.length > 0) message.tool_calls = r.toolCalls;
  return {
    id,
    object: 'chat.completion',
    created,
    model: r.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: r.finishReason ?? 'stop' }],
    usage: openAIUsage(r.usage),
    system_fingerprint: null,
  };
}

/**
 * Builds the router request from a validated body and the tokenwarden headers (`x-thread-id`,
 * `x-agent-id`, `x-user-id`; the org comes from the caller's scope).
 */
export function routerRequest(
  req: IncomingMessage,
  body: ChatRequestBody,
  scope: CallerScope,
  requireThread: boolean,
): CompletionRequest {
  const thread = headerValue(req, 'x-thread-id');
  let threadId: string | undefined;
  if (thread !== undefined) threadId = scopedThreadId(scope.org, checkClientId('x-thread-id', thread));
  else if (requireThread) {
    throw badRequest('x-thread-id', 'x-thread-id: header is required by this gateway (budgets.require_thread)', 'missing_thread_id');
  }
  const agent = headerValue(req, 'x-agent-id');
  const userHeader = headerValue(req, 'x-user-id');
  const user = userHeader !== undefined ? checkPrintable('x-user-id', userHeader) : body.user;
  const metadata: Metadata = {};
  if (scope.org !== null) metadata.org_id = scope.org;
  if (user !== undefined) metadata.user_id = user;
  if (scope.principal.keyName !== null) metadata.key_name = scope.principal.keyName;
  const out: CompletionRequest = { model: body.model, messages: body.messages, metadata };
  if (threadId !== undefined) out.threadId = threadId;
  if (agent !== undefined) out.agentId = checkPrintable('x-agent-id', agent);
  if (body.maxTokens !== undefined) out.maxTokens = body.maxTokens;
  if (body.temperature !== undefined) out.temperature = body.temperature;
  if (body.topP !== undefined) out.topP = body.topP;
  if (body.stop !== undefined) out.stop = body.stop;
  if (body.tools !== undefined) out.tools = body.tools;
  if (body.toolChoice !== undefined) out.toolChoice = body.toolChoice;
  return out;
}

function budgetHeadersFromRefusal(res: ServerResponse, err: unknown): void {
  if (!(err instanceof BudgetExhaustedError) || res.headersSent) return;
  res.setHeader('x-budget-limit', String(err.maxTokens));
  res.setHeader('x-budget-used', String(err.used));
  res.setHeader('x-budget-remaining', String(Math.max(0, err.maxTokens - err.used - err.reserved)));
}

/**
 * `POST /v1/chat/completions`: validates the body, calls the router (which reserves the thread's budget
 * before any provider is contacted and settles it afterwards), and answers in OpenAI's format — JSON, or
 * SSE `chat.completion.chunk`s ending in `data: [DONE]` when `stream: true`.
 */
export async function handleChatCompletions(
  ctx: ChatHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  scope: CallerScope,
  closeHook?: { onClose: (() => void) | undefined },
): Promise<void> {
  const body = parseChatRequest(await readJsonBody(req, ctx.bodyLimit));
  const request = routerRequest(req, body, scope, ctx.requireThread);
  const threadId = request.threadId;
  if (threadId !== undefined) {
    ctx.live.touch(threadId);
    res.setHeader('x-thread-id', splitScopedThreadId(threadId).threadId);
  }
  if (body.stream) {
    // A stream stops when its client goes away (it is charged what was delivered). A scope rather than an
    // AbortController, which the router (and the provider's transport) only needs for the attempt itself.
    const abort = new AbortScope(undefined);
    const onClose = (): void => {
      if (!res.writableEnded) abort.abort(new Error('client disconnected'));
    };
    // The gateway's own 'close' listener calls the hook, saving a second listener per request.
    if (closeHook) closeHook.onClose = onClose;
    else res.once('close', onClose);
    withCallAbort(request, abort);
    await streamCompletion(ctx, res, body, request, abort);
    return;
  }
  // A non-streaming call is not aborted when its client leaves: the provider is already working (and
  // billing) on it, so it is read to its end, bounded by the call's timeouts, and charged what the
  // provider reports. Only the answer is dropped.
  let result: RouterResponse;
  try {
    result = await ctx.router.complete(request);
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
  const crossed = result.budget?.crossed;
  if (crossed && crossed.length > 0) {
    // The highest threshold this call crossed, e.g. "critical; percent=90".
    const top = crossed.reduce((a, b) => (b.percent > a.percent ? b : a));
    res.setHeader('x-budget-threshold', `${top.severity}; percent=${top.percent}`);
  }
  sendJson(res, 200, completionJson(`chatcmpl-${result.event.id}`, Math.floor(result.event.timestamp / 1000), result));
}

function chunkJson(id: string, created: number, model: string, choices: unknown[], usage?: Record<string, unknown>): string {
  const o: Record<string, unknown> = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices };
  if (usage) o.usage = usage;
  return `data: ${JSON.stringify(o)}\n\n`;
}

/** Resolves when the response can take more data, or when the client is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function streamCompletion(
  ctx: ChatHandlerContext,
  res: ServerResponse,
  body: ChatRequestBody,
  request: CompletionRequest,
  signal: AbortScope,
): Promise<void> {
  const iterator = ctx.router.stream(request)[Symbol.asyncIterator]();
  // Pull the first chunk before any header goes out, so that a refusal (429), an unknown model or a
  // provider that fails before its first token still gets a proper status and JSON error body.
  let step: IteratorResult<RouterStreamChunk, void>;
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
    if (request.threadId !== undefined) {
      const usage: ThreadUsage | undefined = await ctx.router.ledger.usage(request.threadId).catch(() => undefined);
      if (usage) setBudgetHeaders(res, usage);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model;
    let roleSent = false;
    const write = async (text: string): Promise<void> => {
      if (!res.write(text) && !res.destroyed) await drained(res);
    };
    while (!step.done) {
      if (signal.aborted || res.destroyed) break;
      const chunk = step.value;
      if (chunk.type === 'delta') {
        const delta: Record<string, unknown> = roleSent ? {} : { role: 'assistant' };
        roleSent = true;
        if (typeof chunk.content === 'string') delta.content = chunk.content;
        if (chunk.toolCalls && chunk.toolCalls.length > 0) delta.tool_calls = chunk.toolCalls;
        await write(chunkJson(id, created, model, [{ index: 0, delta, logprobs: null, finish_reason: null }]));
      } else if (chunk.type === 'finish') {
        if (!roleSent) {
          roleSent = true;
          await write(chunkJson(id, created, model, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
        }
        await write(chunkJson(id, created, model, [{ index: 0, delta: {}, logprobs: null, finish_reason: chunk.finishReason ?? 'stop' }]));
      } else if (chunk.type === 'usage') {
        try {
          await ctx.durable(chunk.event);
        } catch (err) {
          const mapped = storeFailed(err);
          ctx.onError(err, mapped);
          res.end(`data: ${JSON.stringify(mapped.body())}\n\n`);
          finished = true;
          await iterator.return?.(undefined).catch(() => undefined);
          return;
        }
        if (body.includeUsage) await write(chunkJson(id, created, model, [], openAIUsage(chunk.usage)));
      }
      if (signal.aborted || res.destroyed) break;
      try {
        step = await iterator.next();
      } catch (err) {
        if (signal.aborted || res.destroyed) break;
        // Headers are out: report the failure as an SSE error event (OpenAI's shape) and stop.
        const mapped = toHttpError(err, { publicThreadId: (id) => splitScopedThreadId(id).threadId });
        ctx.onError(err, mapped);
        res.write(`data: ${JSON.stringify(mapped.body())}\n\n`);
        res.end();
        finished = true;
        return;
      }
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

