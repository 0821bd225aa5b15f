import type { ForwardEvent, TokenUsage } from '../core/types.js';
import { streamPieces } from './mock-reply.js';
import { mockId, sseEvent, type MockChoice, type MockTurn } from './mock-turn.js';

type Body = Record<string, unknown>;

function usageJson(usage: TokenUsage): Record<string, unknown> {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.totalTokens,
  };
}

/** The output item of `choice`: a message with one `output_text` part, or a `function_call`. */
function outputItem(turn: MockTurn, choice: MockChoice, status: string, text: string): Record<string, unknown> {
  if (choice.tool) {
    return { id: mockId('fc_', turn), type: 'function_call', status, arguments: text, call_id: mockId('call_', turn), name: choice.tool.name };
  }
  const content = status === 'in_progress' ? [] : [textPart(text)];
  return { id: mockId('msg_', turn), type: 'message', status, content, role: 'assistant' };
}

function textPart(text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

/** The `response` object; `output` and `usage` as given (`null` usage while in progress). */
function responseObject(turn: MockTurn, body: Body, status: string, output: unknown[], usage: TokenUsage | undefined | null): Record<string, unknown> {
  const or = (value: unknown, fallback: unknown): unknown => (value === undefined ? fallback : value);
  const out: Record<string, unknown> = {
    id: mockId('resp_', turn),
    object: 'response',
    created_at: turn.created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: or(body.instructions, null),
    max_output_tokens: or(body.max_output_tokens, null),
    model: turn.model,
    output,
    parallel_tool_calls: or(body.parallel_tool_calls, true),
    previous_response_id: or(body.previous_response_id, null),
    reasoning: { effort: null, summary: null },
    service_tier: or(body.service_tier, 'default'),
    store: or(body.store, true),
    temperature: or(body.temperature, 1),
    text: or(body.text, { format: { type: 'text' } }),
    tool_choice: or(body.tool_choice, 'auto'),
    tools: or(body.tools, []),
    top_p: or(body.top_p, 1),
    truncation: or(body.truncation, 'disabled'),
    user: or(body.user, null),
    metadata: or(body.metadata, {}),
  };
  if (usage !== undefined) out.usage = usage === null ? null : usageJson(usage);
  return out;
}

function finalStatus(choice: MockChoice): 'completed' | 'incomplete' {
  return choice.finish === 'length' ? 'incomplete' : 'completed';
}

/** The `response` answer of a non-streamed Responses request. */
export function responsesBody(turn: MockTurn, body: Body): Record<string, unknown> {
  const choice = turn.choices[0] as MockChoice;
  const status = finalStatus(choice);
  return responseObject(turn, body, status, [outputItem(turn, choice, status, choice.text)], turn.usage);
}

/**
 * The events of a streamed Responses answer, named and numbered as OpenAI sends them: `response.created`,
 * `response.in_progress`, the output item (with its content part and text deltas, or its argument deltas),
 * then `response.completed` (`response.incomplete` when cut at `max_output_tokens`) carrying the whole response.
 */
export function responsesEvents(turn: MockTurn, body: Body): ForwardEvent[] {
  const choice = turn.choices[0] as MockChoice;
  const status = finalStatus(choice);
  const events: ForwardEvent[] = [];
  const emit = (type: string, fields: Body, extra: Omit<ForwardEvent, 'data' | 'event'> = {}): void => {
    events.push(sseEvent({ type, sequence_number: events.length, ...fields }, { event: type, ...extra }));
  };
  const pending = turn.usage ? null : undefined;
  emit('response.created', { response: responseObject(turn, body, 'in_progress', [], pending) });
  emit('response.in_progress', { response: responseObject(turn, body, 'in_progress', [], pending) });
  const added = outputItem(turn, choice, 'in_progress', '');
  const item = { item_id: added.id, output_index: 0 };
  emit('response.output_item.added', { output_index: 0, item: added });
  const pieces = streamPieces(choice.text);
  if (choice.tool) {
    for (const delta of pieces) emit('response.function_call_arguments.delta', { ...item, delta }, { text: delta });
    emit('response.function_call_arguments.done', { ...item, name: choice.tool.name, arguments: choice.text });
  } else {
    const part = { ...item, content_index: 0 };
    emit('response.content_part.added', { ...part, part: textPart('') });
    for (const delta of pieces) emit('response.output_text.delta', { ...part, delta, logprobs: [] }, { text: delta });
    emit('response.output_text.done', { ...part, text: choice.text, logprobs: [] });
    emit('response.content_part.done', { ...part, part: textPart(choice.text) });
  }
  const done = outputItem(turn, choice, status, choice.text);
  emit('response.output_item.done', { output_index: 0, item: done });
  emit(`response.${status}`, { response: responseObject(turn, body, status, [done], turn.usage) }, { usage: turn.usage, done: true });
  return events;
}
