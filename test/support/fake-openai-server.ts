/**
 * A fake OpenAI server for tests: a real node:http server on 127.0.0.1 port 0, answering
 * `POST /v1/chat/completions` (plain JSON, or SSE when the body has `stream: true`; `n` choices),
 * `POST /v1/responses` and `POST /v1/completions` (plain and SSE, formats in fake-openai-responses.ts)
 * and `POST /v1/embeddings` (an `ok` scenario: one vector per input, `usage.prompt_tokens` from the
 * scenario's usage) with programmable scenarios. `truncated-stream` cuts chat, responses and
 * completions streams alike.
 *
 * @example
 * ```ts
 * const srv = await startFakeOpenAIServer();
 * srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '2' } }, { kind: 'ok', content: 'hi' });
 * const backend = new OpenAICompatibleBackend({ name: 'a', baseUrl: srv.url, models: ['*'] });
 * // ... first call gets 429, the next gets "hi"
 * await srv.close();
 * ```
 */
import type { ToolCall } from '../../src/core/types.js';
import { respondCompletions, respondResponses, type WireAnswer } from './fake-openai-responses.js';
import {
  splitDeltas,
  startFakeServer,
  writeSse,
  type FakeServer,
  type FaultScenario,
  type RespondContext,
} from './fake-server-core.js';

export type { RecordedRequest, FakeServer } from './fake-server-core.js';

/** OpenAI usage object; extra fields (prompt_tokens_details, ...) are sent as given. */
export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
  [key: string]: unknown;
}

/** What the fake OpenAI server does with one request. */
export type OpenAIScenario =
  | {
      kind: 'ok';
      /** Assistant text (default "Hello from the fake OpenAI server."). `null` sends `content: null`. */
      content?: string | null;
      /** Usage to report; `null` omits usage (also from the stream). Default {prompt 12, completion 8}. */
      usage?: OpenAIUsage | null;
      toolCalls?: ToolCall[];
      /** Default "tool_calls" when toolCalls is set, else "stop". */
      finishReason?: string;
      /** Wait this long before answering. */
      delayMs?: number;
      /** Streaming only: wait this long between deltas. */
      chunkDelayMs?: number;
      /** `model` field of the answer (default: the requested model). */
      model?: string;
      /** Chat: `system_fingerprint` of the answer (and of every chunk). */
      systemFingerprint?: string;
      /** Chat and responses: `service_tier` of the answer. */
      serviceTier?: string;
      /** Chat and completions: the `logprobs` object of every choice. */
      logprobs?: unknown;
    }
  /**
   * Stream: sends `word` (default "spam ") as a delta every `chunkDelayMs` (default 0: as fast as the
   * socket takes them) until the client leaves or the server closes; at most `maxChunks` (default
   * 1 000 000) deltas, then a finish and usage `usage` (if given) and [DONE].
   */
  | { kind: 'endless-stream'; word?: string; chunkDelayMs?: number; maxChunks?: number; usage?: OpenAIUsage }
  /** Stream: sends `chunks` content deltas, then destroys the socket. Plain: half a body, then destroys. */
  | { kind: 'truncated-stream'; chunks: number }
  | FaultScenario;

/** Default usage reported by an `ok` scenario. */
export const DEFAULT_OPENAI_USAGE: OpenAIUsage = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 };
const DEFAULT_CONTENT = 'Hello from the fake OpenAI server.';

/** Starts the fake OpenAI server; `srv.url` ends in `/v1`. Default scenario: `{ kind: 'ok' }`. */
export function startFakeOpenAIServer(): Promise<FakeServer<OpenAIScenario>> {
  return startFakeServer<OpenAIScenario>({
    urlSuffix: '/v1',
    initialDefault: { kind: 'ok' },
    respond,
    oversizedStream(bytes, { res }) {
      const piece = 'y'.repeat(1000);
      for (let sent = 0; sent < bytes; sent += piece.length) {
        writeSse(res, JSON.stringify(chunk('gpt-fake', { content: piece }, null)));
      }
      writeSse(res, '[DONE]');
      res.end();
    },
    malformedStream({ res }) {
      writeSse(res, JSON.stringify(chunk('gpt-fake', { role: 'assistant', content: 'ok' }, null)));
      writeSse(res, '{"choices": [ {"delta": ');
      writeSse(res, '[DONE]');
      res.end();
    },
  });
}

async function respond(scenario: OpenAIScenario, ctx: RespondContext): Promise<void> {
  const { res, body } = ctx;
  const path = (ctx.req.url ?? '').split('?')[0];
  const post = ctx.req.method === 'POST';
  if (post && path === '/v1/embeddings' && scenario.kind === 'ok') {
    embeddingsAnswer(scenario, ctx);
    return;
  }
  if (post && (path === '/v1/responses' || path === '/v1/completions')) {
    await otherWire(path, scenario, ctx);
    return;
  }
  if (!post || path !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${ctx.req.method} ${ctx.req.url}`, type: 'not_found' } }));
    return;
  }
  const requested = typeof body.model === 'string' ? body.model : 'gpt-fake';
  const model = scenario.kind === 'ok' && scenario.model !== undefined ? scenario.model : requested;

  if (scenario.kind === 'truncated-stream') {
    if (ctx.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < scenario.chunks; i++) {
        writeSse(res, JSON.stringify(chunk(model, { content: `part${i} ` }, null)));
      }
      // Let the deltas reach the client before the connection dies.
      await ctx.sleep(20);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"chatcmpl-cut","object":"chat.completion","choices":[{"index":0,"message":{"role":"assi');
      await ctx.sleep(20);
    }
    res.destroy();
    return;
  }
  if (scenario.kind === 'endless-stream') {
    await endlessStream(scenario, ctx, model);
    return;
  }
  if (scenario.kind !== 'ok') return;

  if (scenario.delayMs && !(await ctx.sleep(scenario.delayMs))) return;
  const content = scenario.content === undefined ? DEFAULT_CONTENT : scenario.content;
  const usage = scenario.usage === undefined ? DEFAULT_OPENAI_USAGE : scenario.usage;
  const finishReason = scenario.finishReason ?? (scenario.toolCalls?.length ? 'tool_calls' : 'stop');

  const n = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
  const top = chatExtras(scenario);
  if (!ctx.stream) {
    const choices = Array.from({ length: n }, (_, index) => ({
      index,
      message: { role: 'assistant', content, ...(scenario.toolCalls ? { tool_calls: scenario.toolCalls } : {}) },
      ...(scenario.logprobs !== undefined ? { logprobs: scenario.logprobs } : {}),
      finish_reason: finishReason,
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: 1_700_000_000,
        model,
        choices,
        ...(usage ? { usage: withTotal(usage) } : {}),
        ...top,
      }),
    );
    return;
  }

  const opts = body.stream_options as { include_usage?: unknown } | undefined;
  const includeUsage = opts?.include_usage === true && usage !== null;
  const extra = { ...(includeUsage ? { usage: null } : {}), ...top };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(': fake openai stream\n\n');
  for (let index = 0; index < n; index++) {
    writeSse(res, JSON.stringify({ ...chunk(model, { role: 'assistant', content: '' }, null, index), ...extra }));
  }
  for (const [i, piece] of splitDeltas(content ?? '').entries()) {
    if (i > 0 && scenario.chunkDelayMs && !(await ctx.sleep(scenario.chunkDelayMs))) return;
    for (let index = 0; index < n; index++) {
      writeSse(res, JSON.stringify({ ...chunk(model, { content: piece }, null, index), ...extra }));
    }
  }
  (scenario.toolCalls ?? []).forEach((call, index) => {
    const args = call.function.arguments;
    const half = Math.floor(args.length / 2);
    const first = { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } };
    writeSse(res, JSON.stringify({ ...chunk(model, { tool_calls: [first] }, null), ...extra }));
    for (const part of [args.slice(0, half), args.slice(half)]) {
      const delta = { tool_calls: [{ index, function: { arguments: part } }] };
      writeSse(res, JSON.stringify({ ...chunk(model, delta, null), ...extra }));
    }
  });
  for (let index = 0; index < n; index++) {
    writeSse(res, JSON.stringify({ ...chunk(model, {}, finishReason, index), ...extra }));
  }
  if (includeUsage && usage) {
    writeSse(res, JSON.stringify({ ...chunk(model, null, null), ...top, choices: [], usage: withTotal(usage) }));
  }
  writeSse(res, '[DONE]');
  res.end();
}

async function endlessStream(
  scenario: Extract<OpenAIScenario, { kind: 'endless-stream' }>,
  ctx: RespondContext,
  model: string,
): Promise<void> {
  const { res } = ctx;
  const word = scenario.word ?? 'spam ';
  const max = scenario.maxChunks ?? 1_000_000;
  let gone = false;
  res.on('close', () => (gone = true));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (let i = 0; i < max && !gone; i++) {
    const more = res.write(`data: ${JSON.stringify(chunk(model, { content: word }, null))}\n\n`);
    if (scenario.chunkDelayMs) {
      if (!(await ctx.sleep(scenario.chunkDelayMs))) return;
    } else if (!more) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (gone) return;
  writeSse(res, JSON.stringify(chunk(model, {}, 'stop')));
  if (scenario.usage) writeSse(res, JSON.stringify({ ...chunk(model, null, null), choices: [], usage: withTotal(scenario.usage) }));
  writeSse(res, '[DONE]');
  res.end();
}

function chunk(model: string, delta: Record<string, unknown> | null, finishReason: string | null, index = 0): Record<string, unknown> {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: delta ? [{ index, delta, finish_reason: finishReason }] : [],
  };
}

/** Top-level fields a chat scenario asks to echo (`system_fingerprint`, `service_tier`). */
function chatExtras(scenario: Extract<OpenAIScenario, { kind: 'ok' }>): Record<string, unknown> {
  return {
    ...(scenario.systemFingerprint !== undefined ? { system_fingerprint: scenario.systemFingerprint } : {}),
    ...(scenario.serviceTier !== undefined ? { service_tier: scenario.serviceTier } : {}),
  };
}

/** `/v1/responses` and `/v1/completions`: `ok` and `truncated-stream` answers (other kinds are generic faults). */
async function otherWire(path: string, scenario: OpenAIScenario, ctx: RespondContext): Promise<void> {
  const { res, body } = ctx;
  const requested = typeof body.model === 'string' ? body.model : 'gpt-fake';
  if (scenario.kind === 'truncated-stream' && !ctx.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":"cut","object":"response","output":[{"type":"mess');
    await ctx.sleep(20);
    res.destroy();
    return;
  }
  if (scenario.kind !== 'ok' && scenario.kind !== 'truncated-stream') return;
  const ok = scenario.kind === 'ok' ? scenario : undefined;
  if (ok?.delayMs && !(await ctx.sleep(ok.delayMs))) return;
  const answer: WireAnswer = {
    model: ok?.model ?? requested,
    content: ok?.content ?? (ok?.content === null ? '' : DEFAULT_CONTENT),
    usage: ok?.usage === null ? null : (ok?.usage ?? DEFAULT_OPENAI_USAGE),
    toolCalls: ok?.toolCalls ?? [],
    ...(ok?.serviceTier !== undefined ? { serviceTier: ok.serviceTier } : {}),
    ...(ok?.logprobs !== undefined ? { logprobs: ok.logprobs } : {}),
    ...(ok?.chunkDelayMs ? { chunkDelayMs: ok.chunkDelayMs } : {}),
    ...(scenario.kind === 'truncated-stream' ? { cutAfter: scenario.chunks } : {}),
  };
  await (path === '/v1/responses' ? respondResponses(answer, ctx) : respondCompletions(answer, ctx));
}

function withTotal(usage: OpenAIUsage): OpenAIUsage {
  return { total_tokens: usage.prompt_tokens + usage.completion_tokens, ...usage };
}

/** Default `prompt_tokens` of an embeddings answer. */
export const DEFAULT_EMBEDDING_PROMPT_TOKENS = 7;

/** The vector the fake server answers for input number `index` (of `dimensions` entries, default 4). */
export function fakeEmbedding(index: number, dimensions = 4): number[] {
  return Array.from({ length: dimensions }, (_, i) => Math.round(Math.sin(index * 31 + i) * 1e4) / 1e4);
}

function embeddingsAnswer(scenario: Extract<OpenAIScenario, { kind: 'ok' }>, ctx: RespondContext): void {
  const { body, res } = ctx;
  const input = body.input;
  const count = Array.isArray(input) && typeof input[0] !== 'number' ? input.length : 1;
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : undefined;
  const prompt = scenario.usage === null ? undefined : (scenario.usage?.prompt_tokens ?? DEFAULT_EMBEDDING_PROMPT_TOKENS);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      object: 'list',
      data: Array.from({ length: count }, (_, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(index, dimensions) })),
      model: scenario.model ?? (typeof body.model === 'string' ? body.model : 'text-embedding-fake'),
      ...(prompt === undefined ? {} : { usage: { prompt_tokens: prompt, total_tokens: prompt } }),
    }),
  );
}
