import type { ForwardEvent, TokenUsage } from '../core/types.js';
import { mulberry32, pickWord, streamPieces } from './mock-reply.js';
import { mockId, sseEvent, type MockChoice, type MockTurn } from './mock-turn.js';

type Body = Record<string, unknown>;

const FINGERPRINT = 'fp_mock';

/** OpenAI's chat usage object. */
export function chatUsage(usage: TokenUsage): Record<string, unknown> {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** Whether a streamed chat or completions request asked for the usage chunk (`stream_options.include_usage`). */
export function includeUsage(body: Body): boolean {
  const options = body.stream_options;
  return typeof options === 'object' && options !== null && (options as Body).include_usage === true;
}

function finishReason(choice: MockChoice): string {
  if (choice.finish === 'length') return 'length';
  return choice.finish === 'tool' ? 'tool_calls' : 'stop';
}

function topLogprobs(body: Body): number | undefined {
  if (body.logprobs !== true) return undefined;
  const top = body.top_logprobs;
  return typeof top === 'number' && Number.isSafeInteger(top) && top >= 0 ? Math.min(top, 20) : 0;
}

/** OpenAI-shaped logprobs of `pieces` (one token each), seeded by the piece so that the same text gets the same numbers. */
function logprobEntries(pieces: string[], top: number): Record<string, unknown>[] {
  const bytes = (s: string): number[] => [...Buffer.from(s, 'utf8')];
  return pieces.map((token) => {
    let seed = 0x9e3779b9;
    for (let i = 0; i < token.length; i++) seed = Math.imul(seed ^ token.charCodeAt(i), 0x01000193);
    const rng = mulberry32(seed);
    const logprob = -Math.round(rng() * 2e6) / 1e6;
    const alternatives = [{ token, logprob, bytes: bytes(token) }];
    for (let k = 1; k < top; k++) {
      const alt = ` ${pickWord(rng)}#${k}`;
      alternatives.push({ token: alt, logprob: logprob - k - Math.round(rng() * 1e6) / 1e6, bytes: bytes(alt) });
    }
    return { token, logprob, bytes: bytes(token), top_logprobs: alternatives.slice(0, top) };
  });
}

function toolCall(turn: MockTurn, choice: MockChoice, index: number): Record<string, unknown> {
  return { id: mockId('call_', turn, `_${index}`), type: 'function', function: { name: choice.tool?.name, arguments: choice.text } };
}

function envelope(turn: MockTurn, body: Body, object: string): Record<string, unknown> {
  const out: Record<string, unknown> = { id: mockId('chatcmpl-', turn), object, created: turn.created, model: turn.model };
  out.service_tier = typeof body.service_tier === 'string' ? body.service_tier : 'default';
  out.system_fingerprint = FINGERPRINT;
  return out;
}

/** The `chat.completion` answer of a non-streamed chat request. */
export function chatBody(turn: MockTurn, body: Body): Record<string, unknown> {
  const top = topLogprobs(body);
  const choices = turn.choices.map((choice, index) => {
    const message: Record<string, unknown> = { role: 'assistant', content: choice.tool ? null : choice.text, refusal: null, annotations: [] };
    if (choice.tool) message.tool_calls = [toolCall(turn, choice, index)];
    const logprobs = top !== undefined && !choice.tool ? { content: logprobEntries(streamPieces(choice.text), top), refusal: null } : null;
    return { index, message, logprobs, finish_reason: finishReason(choice) };
  });
  const out = { ...envelope(turn, body, 'chat.completion'), choices };
  return turn.usage ? { ...out, usage: chatUsage(turn.usage) } : out;
}

/** The events of a streamed chat answer: per choice a role chunk, content (or tool-call) chunks and a finish chunk; the usage chunk if asked; `[DONE]`. */
export function chatEvents(turn: MockTurn, body: Body): ForwardEvent[] {
  const top = topLogprobs(body);
  const usage = includeUsage(body) && turn.usage ? turn.usage : undefined;
  const base = envelope(turn, body, 'chat.completion.chunk');
  const chunk = (index: number, delta: Body, finish: string | null, logprobs: unknown = null): Body => {
    const out: Body = { ...base, choices: [{ index, delta, logprobs, finish_reason: finish }] };
    if (usage) out.usage = null;
    return out;
  };
  const events: ForwardEvent[] = [];
  turn.choices.forEach((choice, index) => {
    if (choice.tool) {
      const call = toolCall(turn, choice, index);
      events.push(sseEvent(chunk(index, { role: 'assistant', content: null, tool_calls: [{ index: 0, ...call, function: { name: choice.tool.name, arguments: '' } }], refusal: null }, null)));
      for (const piece of streamPieces(choice.text)) {
        events.push(sseEvent(chunk(index, { tool_calls: [{ index: 0, function: { arguments: piece } }] }, null), { text: piece }));
      }
    } else {
      events.push(sseEvent(chunk(index, { role: 'assistant', content: '', refusal: null }, null)));
      for (const piece of streamPieces(choice.text)) {
        const logprobs = top !== undefined ? { content: logprobEntries([piece], top), refusal: null } : null;
        events.push(sseEvent(chunk(index, { content: piece }, null, logprobs), { text: piece }));
      }
    }
    events.push(sseEvent(chunk(index, {}, finishReason(choice))));
  });
  if (usage) events.push(sseEvent({ ...base, choices: [], usage: chatUsage(usage) }, { usage, usageOnly: true }));
  events.push({ data: '[DONE]', done: true });
  return events;
}
