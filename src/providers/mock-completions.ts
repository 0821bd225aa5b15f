import type { ForwardEvent, TokenUsage } from '../core/types.js';
import { includeUsage } from './mock-chat.js';
import { streamPieces } from './mock-reply.js';
import { mockId, sseEvent, type MockTurn } from './mock-turn.js';

type Body = Record<string, unknown>;

function usageJson(usage: TokenUsage): Record<string, number> {
  return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.totalTokens };
}

function envelope(turn: MockTurn): Record<string, unknown> {
  return { id: mockId('cmpl-', turn), object: 'text_completion', created: turn.created, model: turn.model, system_fingerprint: 'fp_mock' };
}

/** The `text_completion` answer of a non-streamed legacy completions request. */
export function completionsBody(turn: MockTurn): Record<string, unknown> {
  const choices = turn.choices.map((choice, index) => ({
    text: choice.text,
    index,
    logprobs: null,
    finish_reason: choice.finish === 'length' ? 'length' : 'stop',
  }));
  const out = { ...envelope(turn), choices };
  return turn.usage ? { ...out, usage: usageJson(turn.usage) } : out;
}

/** The events of a streamed legacy completion: text chunks and a finish chunk per choice, the usage chunk if asked, `[DONE]`. */
export function completionsEvents(turn: MockTurn, body: Body): ForwardEvent[] {
  const usage = includeUsage(body) && turn.usage ? turn.usage : undefined;
  const base = envelope(turn);
  const chunk = (index: number, text: string, finish: string | null): Body => {
    const out: Body = { ...base, choices: [{ text, index, logprobs: null, finish_reason: finish }] };
    if (usage) out.usage = null;
    return out;
  };
  const events: ForwardEvent[] = [];
  turn.choices.forEach((choice, index) => {
    for (const piece of streamPieces(choice.text)) events.push(sseEvent(chunk(index, piece, null), { text: piece }));
    events.push(sseEvent(chunk(index, '', choice.finish === 'length' ? 'length' : 'stop')));
  });
  if (usage) events.push(sseEvent({ ...base, choices: [], usage: usageJson(usage) }, { usage, usageOnly: true }));
  events.push({ data: '[DONE]', done: true });
  return events;
}
