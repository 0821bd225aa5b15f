/**
 * A fake Anthropic Messages server for tests: a real node:http server on 127.0.0.1 port 0, answering
 * `POST /v1/messages` (plain JSON, or SSE events when the body has `stream: true`) and
 * `POST /v1/messages/count_tokens` (an `ok` scenario answers `{ input_tokens }` from its usage) with
 * programmable scenarios. `srv.url` is the base URL without `/v1`, like `https://api.anthropic.com`.
 *
 * @example
 * ```ts
 * const srv = await startFakeAnthropicServer();
 * srv.enqueue({ kind: 'ok', content: 'hi', usage: { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 5 } });
 * const backend = new AnthropicBackend({ name: 'claude', baseUrl: srv.url, models: ['claude-*'] });
 * await srv.close();
 * ```
 */
import {
  splitDeltas,
  startFakeServer,
  writeSse,
  type FakeServer,
  type FaultScenario,
  type RespondContext,
} from './fake-server-core.js';

export type { RecordedRequest, FakeServer } from './fake-server-core.js';

/** Anthropic usage object. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** A tool_use block the fake assistant emits. */
export interface FakeToolUse {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** What the fake Anthropic server does with one request. */
export type AnthropicScenario =
  | {
      kind: 'ok';
      /** Assistant text (default "Hello from the fake Anthropic server."); '' sends no text block. */
      content?: string;
      /** Usage to report; `null` omits usage everywhere. Default {input 15, output 9}. */
      usage?: AnthropicUsage | null;
      toolUses?: FakeToolUse[];
      /** Default "tool_use" when toolUses is set, else "end_turn". */
      stopReason?: string;
      delayMs?: number;
      /** Streaming only: wait this long between deltas. */
      chunkDelayMs?: number;
    }
  /** Stream: message_start and `chunks` text deltas, then destroys the socket. Plain: half a body. */
  | { kind: 'truncated-stream'; chunks: number }
  /** Stream: message_start, `chunks` text deltas, then an `error` event (e.g. overloaded_error). */
  | { kind: 'stream-error'; chunks: number; errorType?: string; message?: string }
  | FaultScenario;

/** Default usage reported by an `ok` scenario. */
export const DEFAULT_ANTHROPIC_USAGE: AnthropicUsage = { input_tokens: 15, output_tokens: 9 };
const DEFAULT_CONTENT = 'Hello from the fake Anthropic server.';

/** Starts the fake Anthropic server. Default scenario: `{ kind: 'ok' }`. */
export function startFakeAnthropicServer(): Promise<FakeServer<AnthropicScenario>> {
  return startFakeServer<AnthropicScenario>({
    urlSuffix: '',
    initialDefault: { kind: 'ok' },
    respond,
    oversizedStream(bytes, { res, body }) {
      messageStart(res, model(body), DEFAULT_ANTHROPIC_USAGE);
      const piece = 'y'.repeat(1000);
      for (let sent = 0; sent < bytes; sent += piece.length) textDelta(res, piece);
      messageEnd(res, 'end_turn', DEFAULT_ANTHROPIC_USAGE);
    },
    malformedStream({ res, body }) {
      messageStart(res, model(body), DEFAULT_ANTHROPIC_USAGE);
      writeSse(res, '{"type": "content_block_delta", "delta": ', 'content_block_delta');
      res.end();
    },
  });
}

async function respond(scenario: AnthropicScenario, ctx: RespondContext): Promise<void> {
  const { res, body } = ctx;
  const path = (ctx.req.url ?? '').split('?')[0];
  if (ctx.req.method === 'POST' && path === '/v1/messages/count_tokens' && scenario.kind === 'ok') {
    const inputTokens = (scenario.usage === undefined ? DEFAULT_ANTHROPIC_USAGE : scenario.usage)?.input_tokens ?? DEFAULT_ANTHROPIC_USAGE.input_tokens;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ input_tokens: inputTokens }));
    return;
  }
  if (ctx.req.method !== 'POST' || path !== '/v1/messages') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `no route ${ctx.req.url}` } }));
    return;
  }
  const name = model(body);

  if (scenario.kind === 'truncated-stream' || scenario.kind === 'stream-error') {
    if (!ctx.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"msg_cut","type":"message","content":[{"type":"text","text":"Hel');
      await ctx.sleep(20);
      res.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    messageStart(res, name, DEFAULT_ANTHROPIC_USAGE);
    writeSse(res, JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }), 'content_block_start');
    for (let i = 0; i < scenario.chunks; i++) textDelta(res, `part${i} `);
    if (scenario.kind === 'stream-error') {
      const error = { type: scenario.errorType ?? 'overloaded_error', message: scenario.message ?? 'Overloaded' };
      writeSse(res, JSON.stringify({ type: 'error', error }), 'error');
      res.end();
      return;
    }
    await ctx.sleep(20);
    res.destroy();
    return;
  }
  if (scenario.kind !== 'ok') return;

  if (scenario.delayMs && !(await ctx.sleep(scenario.delayMs))) return;
  const text = scenario.content ?? DEFAULT_CONTENT;
  const usage = scenario.usage === undefined ? DEFAULT_ANTHROPIC_USAGE : scenario.usage;
  const toolUses = scenario.toolUses ?? [];
  const stopReason = scenario.stopReason ?? (toolUses.length ? 'tool_use' : 'end_turn');

  if (!ctx.stream) {
    const content = [
      ...(text ? [{ type: 'text', text }] : []),
      ...toolUses.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input })),
    ];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model: name,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        ...(usage ? { usage } : {}),
      }),
    );
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  messageStart(res, name, usage);
  let index = 0;
  if (text) {
    writeSse(res, JSON.stringify({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }), 'content_block_start');
    writeSse(res, JSON.stringify({ type: 'ping' }), 'ping');
    for (const [i, piece] of splitDeltas(text).entries()) {
      if (i > 0 && scenario.chunkDelayMs && !(await ctx.sleep(scenario.chunkDelayMs))) return;
      textDelta(res, piece, index);
    }
    writeSse(res, JSON.stringify({ type: 'content_block_stop', index }), 'content_block_stop');
    index++;
  }
  for (const tool of toolUses) {
    const block = { type: 'tool_use', id: tool.id, name: tool.name, input: {} };
    writeSse(res, JSON.stringify({ type: 'content_block_start', index, content_block: block }), 'content_block_start');
    const json = JSON.stringify(tool.input);
    const half = Math.floor(json.length / 2);
    for (const part of [json.slice(0, half), json.slice(half)]) {
      const delta = { type: 'input_json_delta', partial_json: part };
      writeSse(res, JSON.stringify({ type: 'content_block_delta', index, delta }), 'content_block_delta');
    }
    writeSse(res, JSON.stringify({ type: 'content_block_stop', index }), 'content_block_stop');
    index++;
  }
  messageEnd(res, stopReason, usage);
}

function model(body: Record<string, unknown>): string {
  return typeof body.model === 'string' ? body.model : 'claude-fake';
}

function messageStart(res: RespondContext['res'], name: string, usage: AnthropicUsage | null): void {
  const message = {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: name,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    ...(usage ? { usage: { ...usage, output_tokens: 1 } } : {}),
  };
  writeSse(res, JSON.stringify({ type: 'message_start', message }), 'message_start');
}

function textDelta(res: RespondContext['res'], text: string, index = 0): void {
  const delta = { type: 'text_delta', text };
  writeSse(res, JSON.stringify({ type: 'content_block_delta', index, delta }), 'content_block_delta');
}

function messageEnd(res: RespondContext['res'], stopReason: string, usage: AnthropicUsage | null): void {
  const delta = { stop_reason: stopReason, stop_sequence: null };
  const extra = usage ? { usage: { output_tokens: usage.output_tokens } } : {};
  writeSse(res, JSON.stringify({ type: 'message_delta', delta, ...extra }), 'message_delta');
  writeSse(res, JSON.stringify({ type: 'message_stop' }), 'message_stop');
  res.end();
}
