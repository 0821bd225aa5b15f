import type { ForwardEvent, TokenUsage } from '../core/types.js';
import { streamPieces } from './mock-reply.js';
import { mockId, sseEvent, usageSoFar, type MockChoice, type MockTurn } from './mock-turn.js';

function usageJson(usage: TokenUsage): Record<string, unknown> {
  return {
    input_tokens: usage.promptTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: usage.completionTokens,
    service_tier: 'standard',
  };
}

function stopReason(choice: MockChoice): string {
  if (choice.finish === 'length') return 'max_tokens';
  return choice.finish === 'tool' ? 'tool_use' : 'end_turn';
}

/** The arguments of a tool call as an object; `{}` when cut short (no longer valid JSON). */
function toolInput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return {};
  }
}

function block(turn: MockTurn, choice: MockChoice, text: string, input: unknown): Record<string, unknown> {
  return choice.tool ? { type: 'tool_use', id: mockId('toolu_', turn), name: choice.tool.name, input } : { type: 'text', text };
}

function message(turn: MockTurn, content: unknown[], stop: string | null, usage: TokenUsage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: mockId('msg_', turn),
    type: 'message',
    role: 'assistant',
    model: turn.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
  };
  if (usage) out.usage = usageJson(usage);
  return out;
}

/** The Anthropic `message` answer of a non-streamed Messages request. */
export function messagesBody(turn: MockTurn): Record<string, unknown> {
  const choice = turn.choices[0] as MockChoice;
  return message(turn, [block(turn, choice, choice.text, toolInput(choice.text))], stopReason(choice), turn.usage);
}

/** The answer of `count_tokens`: the prompt estimate. */
export function countTokensBody(turn: MockTurn): Record<string, unknown> {
  return { input_tokens: turn.promptTokens };
}

/**
 * The events of a streamed Messages answer as Anthropic names them: `message_start` (empty content, the input
 * tokens), `content_block_start`, `ping`, `content_block_delta` (`text_delta`, or `input_json_delta` for a
 * tool call), `content_block_stop`, `message_delta` (stop reason, output tokens), `message_stop`.
 */
export function messagesEvents(turn: MockTurn): ForwardEvent[] {
  const choice = turn.choices[0] as MockChoice;
  const events: ForwardEvent[] = [];
  const emit = (type: string, fields: Record<string, unknown>, extra: Omit<ForwardEvent, 'data' | 'event'> = {}): void => {
    events.push(sseEvent({ type, ...fields }, { event: type, ...extra }));
  };
  const full = turn.usage;
  const start = full ? usageSoFar(full, Math.min(1, full.completionTokens)) : undefined;
  emit('message_start', { message: message(turn, [], null, start) }, { usage: start });
  emit('content_block_start', { index: 0, content_block: block(turn, choice, '', {}) });
  emit('ping', {});
  for (const piece of streamPieces(choice.text)) {
    const delta = choice.tool ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece };
    emit('content_block_delta', { index: 0, delta }, { text: piece });
  }
  emit('content_block_stop', { index: 0 });
  const delta: Record<string, unknown> = { delta: { stop_reason: stopReason(choice), stop_sequence: null } };
  if (full) delta.usage = { output_tokens: full.completionTokens };
  emit('message_delta', delta, { usage: full });
  emit('message_stop', {}, { done: true });
  return events;
}
