/**
 * The Responses API (`POST /v1/responses`) and legacy Completions API (`POST /v1/completions`) wire
 * formats of the fake OpenAI server (fake-openai-server.ts): plain JSON objects and the SSE sequences
 * the real API sends. Responses streams name every event (`event: response.output_text.delta`) and end
 * with `response.completed` carrying the usage (no `[DONE]`); Completions streams are `text_completion`
 * chunks ending in a usage chunk (when `stream_options.include_usage`) and `[DONE]`.
 */
import type { ToolCall } from '../../src/core/types.js';
import { splitDeltas, writeSse, type RespondContext } from './fake-server-core.js';

/** Chat-style usage as scenarios give it; converted to the Responses shape here. */
export interface ChatStyleUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
  [key: string]: unknown;
}

/** What one answer of these formats says, resolved from the scenario. */
export interface WireAnswer {
  model: string;
  content: string;
  usage: ChatStyleUsage | null;
  toolCalls: ToolCall[];
  serviceTier?: string;
  /** Completions: the `logprobs` of each choice. */
  logprobs?: unknown;
  chunkDelayMs?: number;
  /** Streams: send this many text deltas, then destroy the socket (a cut stream). */
  cutAfter?: number;
}

const CREATED = 1_700_000_000;

/** The Responses-API usage object for a chat-style usage. */
export function responsesUsage(usage: ChatStyleUsage): Record<string, unknown> {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
  };
}

function messageItem(content: string, status: 'in_progress' | 'completed'): Record<string, unknown> {
  const parts = status === 'completed' ? [{ type: 'output_text', text: content, annotations: [], logprobs: [] }] : [];
  return { type: 'message', id: 'msg_fake', status, role: 'assistant', content: parts };
}

function functionItem(call: ToolCall, index: number, done: boolean): Record<string, unknown> {
  return {
    type: 'function_call',
    id: `fc_fake_${index}`,
    call_id: call.id,
    name: call.function.name,
    arguments: done ? call.function.arguments : '',
    status: done ? 'completed' : 'in_progress',
  };
}

/** The full Responses object (status `completed` with output, or `in_progress` without). */
export function responseObject(answer: WireAnswer, body: Record<string, unknown>, done: boolean): Record<string, unknown> {
  const output = done
    ? [...(answer.content ? [messageItem(answer.content, 'completed')] : []), ...answer.toolCalls.map((c, i) => functionItem(c, i, true))]
    : [];
  return {
    id: 'resp_fake',
    object: 'response',
    created_at: CREATED,
    status: done ? 'completed' : 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: answer.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: answer.serviceTier ?? 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: done && answer.usage ? responsesUsage(answer.usage) : null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

/** Answers `POST /v1/responses` (plain or SSE). */
export async function respondResponses(answer: WireAnswer, ctx: RespondContext): Promise<void> {
  const { res, body } = ctx;
  if (!ctx.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(responseObject(answer, body, true)));
    return;
  }
  let seq = 0;
  const emit = (type: string, data: Record<string, unknown>): void =>
    writeSse(res, JSON.stringify({ type, sequence_number: seq++, ...data }), type);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  emit('response.created', { response: responseObject(answer, body, false) });
  emit('response.in_progress', { response: responseObject(answer, body, false) });
  let outputIndex = 0;
  if (answer.content || answer.cutAfter !== undefined) {
    const ids = { item_id: 'msg_fake', output_index: outputIndex, content_index: 0 };
    emit('response.output_item.added', { output_index: outputIndex, item: messageItem('', 'in_progress') });
    emit('response.content_part.added', { ...ids, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    if (answer.cutAfter !== undefined) {
      for (let i = 0; i < answer.cutAfter; i++) emit('response.output_text.delta', { ...ids, delta: `part${i} `, logprobs: [] });
      await ctx.sleep(20);
      res.destroy();
      return;
    }
    for (const [i, delta] of splitDeltas(answer.content).entries()) {
      if (i > 0 && answer.chunkDelayMs && !(await ctx.sleep(answer.chunkDelayMs))) return;
      emit('response.output_text.delta', { ...ids, delta, logprobs: [] });
    }
    emit('response.output_text.done', { ...ids, text: answer.content, logprobs: [] });
    emit('response.content_part.done', { ...ids, part: { type: 'output_text', text: answer.content, annotations: [], logprobs: [] } });
    emit('response.output_item.done', { output_index: outputIndex, item: messageItem(answer.content, 'completed') });
    outputIndex++;
  }
  for (const [i, call] of answer.toolCalls.entries()) {
    const args = call.function.arguments;
    const half = Math.floor(args.length / 2);
    const ids = { item_id: `fc_fake_${i}`, output_index: outputIndex };
    emit('response.output_item.added', { output_index: outputIndex, item: functionItem(call, i, false) });
    for (const delta of [args.slice(0, half), args.slice(half)]) emit('response.function_call_arguments.delta', { ...ids, delta });
    emit('response.function_call_arguments.done', { ...ids, arguments: args });
    emit('response.output_item.done', { output_index: outputIndex, item: functionItem(call, i, true) });
    outputIndex++;
  }
  emit('response.completed', { response: responseObject(answer, body, true) });
  res.end();
}

function completionChunk(answer: WireAnswer, text: string, index: number, finish: string | null): Record<string, unknown> {
  return {
    id: 'cmpl-fake',
    object: 'text_completion',
    created: CREATED,
    model: answer.model,
    choices: [{ text, index, logprobs: null, finish_reason: finish }],
  };
}

/** Answers `POST /v1/completions` (plain or SSE); honours `n` (one choice per index). */
export async function respondCompletions(answer: WireAnswer, ctx: RespondContext): Promise<void> {
  const { res, body } = ctx;
  const n = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
  const usage = answer.usage ? { ...answer.usage, total_tokens: answer.usage.prompt_tokens + answer.usage.completion_tokens } : null;
  if (!ctx.stream) {
    const choices = Array.from({ length: n }, (_, index) => ({
      text: answer.content,
      index,
      logprobs: answer.logprobs ?? null,
      finish_reason: 'stop',
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'cmpl-fake',
        object: 'text_completion',
        created: CREATED,
        model: answer.model,
        choices,
        ...(usage ? { usage } : {}),
      }),
    );
    return;
  }
  const opts = body.stream_options as { include_usage?: unknown } | undefined;
  const includeUsage = opts?.include_usage === true && usage !== null;
  const extra = includeUsage ? { usage: null } : {};
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (answer.cutAfter !== undefined) {
    for (let i = 0; i < answer.cutAfter; i++) writeSse(res, JSON.stringify(completionChunk(answer, `part${i} `, 0, null)));
    await ctx.sleep(20);
    res.destroy();
    return;
  }
  for (const [i, piece] of splitDeltas(answer.content).entries()) {
    if (i > 0 && answer.chunkDelayMs && !(await ctx.sleep(answer.chunkDelayMs))) return;
    for (let index = 0; index < n; index++) writeSse(res, JSON.stringify({ ...completionChunk(answer, piece, index, null), ...extra }));
  }
  for (let index = 0; index < n; index++) writeSse(res, JSON.stringify({ ...completionChunk(answer, '', index, 'stop'), ...extra }));
  if (includeUsage) writeSse(res, JSON.stringify({ ...completionChunk(answer, '', 0, null), choices: [], usage }));
  writeSse(res, '[DONE]');
  res.end();
}
