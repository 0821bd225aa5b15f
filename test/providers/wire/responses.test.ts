import { describe, expect, it } from 'vitest';
import { wireReader } from '../../../src/providers/wire/index.js';
import { namedEvents, readSse, textOf } from './read-sse.js';

const responses = wireReader('responses');
const RESP_ID = 'resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654';
const MSG_ID = 'msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654';

function response(status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: RESP_ID,
    object: 'response',
    created_at: 1741290958,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-4.1-2025-04-14',
    output: [],
    parallel_tool_calls: true,
    usage: null,
    ...extra,
  };
}
const usage = { input_tokens: 37, input_tokens_details: { cached_tokens: 12 }, output_tokens: 11, output_tokens_details: { reasoning_tokens: 4 }, total_tokens: 48 };
const textDelta = (seq: number, delta: string) => ({ type: 'response.output_text.delta', sequence_number: seq, item_id: MSG_ID, output_index: 0, content_index: 0, delta, logprobs: [] });
const opening = [
  { type: 'response.created', sequence_number: 0, response: response('in_progress') },
  { type: 'response.in_progress', sequence_number: 1, response: response('in_progress') },
  { type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id: MSG_ID, type: 'message', status: 'in_progress', role: 'assistant', content: [] } },
  { type: 'response.content_part.added', sequence_number: 3, item_id: MSG_ID, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
];

describe('responses: a JSON answer', () => {
  it('reads usage (cached, reasoning) and the model', () => {
    const body = response('completed', { output: [{ type: 'message', id: MSG_ID, role: 'assistant', content: [{ type: 'output_text', text: 'Hi there!', annotations: [] }] }], usage });
    expect(responses.usage(body)).toEqual({ promptTokens: 37, completionTokens: 11, totalTokens: 48, cachedPromptTokens: 12, reasoningTokens: 4 });
    expect(responses.model(body)).toBe('gpt-4.1-2025-04-14');
  });

  it('passes numbers as sent and needs both input and output numbers', () => {
    expect(responses.usage({ usage: { input_tokens: 1.5, output_tokens: -2 } })).toEqual({ promptTokens: 1.5, completionTokens: -2, totalTokens: -0.5 });
    expect(responses.usage({ usage: { input_tokens: 3 } })).toBeUndefined();
    expect(responses.usage({ usage: { prompt_tokens: 3, completion_tokens: 4 } })).toBeUndefined();
    expect(responses.usage({ usage: null })).toBeUndefined();
    expect(responses.usage('x')).toBeUndefined();
  });
});

describe('responses: a stream', () => {
  it('reads output text deltas (not the .done repeats) and usage and the end from response.completed', async () => {
    const events = await readSse(
      responses.stream(),
      namedEvents(
        ...opening,
        textDelta(4, 'Hi'),
        textDelta(5, ' there!'),
        { type: 'response.output_text.done', sequence_number: 6, item_id: MSG_ID, output_index: 0, content_index: 0, text: 'Hi there!', logprobs: [] },
        { type: 'response.content_part.done', sequence_number: 7, item_id: MSG_ID, output_index: 0, content_index: 0, part: { type: 'output_text', text: 'Hi there!', annotations: [] } },
        { type: 'response.output_item.done', sequence_number: 8, output_index: 0, item: { id: MSG_ID, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi there!', annotations: [] }] } },
        { type: 'response.completed', sequence_number: 9, response: response('completed', { usage }) },
      ),
    );
    expect(textOf(events)).toBe('Hi there!');
    expect(events[4]).toEqual({ event: 'response.output_text.delta', data: JSON.stringify(textDelta(4, 'Hi')), text: 'Hi' });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ event: 'response.completed', done: true, usage: { promptTokens: 37, completionTokens: 11, totalTokens: 48, cachedPromptTokens: 12, reasoningTokens: 4 } });
    expect(last.error).toBeUndefined();
    expect(events.slice(0, -1).some((e) => e.done || e.usage || e.error)).toBe(false);
  });

  it('reads refusals, tool-call arguments, custom tool input and reasoning deltas', () => {
    const r = responses.stream();
    const read = (type: string, delta: unknown) => r.read({ event: type, data: JSON.stringify({ type, sequence_number: 1, item_id: 'fc_1', output_index: 0, delta }) }).text;
    expect(read('response.refusal.delta', "I can't")).toBe("I can't");
    expect(read('response.function_call_arguments.delta', '{"city":')).toBe('{"city":');
    expect(read('response.custom_tool_call_input.delta', 'print(1)')).toBe('print(1)');
    expect(read('response.reasoning_summary_text.delta', '**Planning**')).toBe('**Planning**');
    expect(read('response.reasoning_text.delta', 'step one')).toBe('step one');
    expect(read('response.output_text.delta', '')).toBeUndefined();
    expect(read('response.output_text.delta', 7)).toBeUndefined();
    expect(read('response.function_call_arguments.done', '{"city":"Paris"}')).toBeUndefined();
    // Output the provider generates besides text: counted, so a cut stream is charged for it too.
    expect(read('response.audio.transcript.delta', 'spoken')).toBe('spoken');
    expect(read('response.code_interpreter_call_code.delta', 'x = 1')).toBe('x = 1');
    expect(read('response.mcp_call_arguments.delta', '{"q":1}')).toBe('{"q":1}');
    expect(read('response.audio.delta', 'AAAA')).toBeUndefined(); // audio bytes: not text
  });

  it('ends an incomplete response with its usage and no error', () => {
    const data = JSON.stringify({ type: 'response.incomplete', sequence_number: 30, response: response('incomplete', { incomplete_details: { reason: 'max_output_tokens' }, usage: { ...usage, output_tokens: 16, total_tokens: 53 } }) });
    const ev = responses.stream().read({ event: 'response.incomplete', data });
    expect(ev).toEqual({ event: 'response.incomplete', data, done: true, usage: { promptTokens: 37, completionTokens: 16, totalTokens: 53, cachedPromptTokens: 12, reasoningTokens: 4 } });
  });

  it('ends a failed response with its error message and usage when reported', () => {
    const error = { code: 'server_error', message: 'The model failed to generate a response.' };
    const r = responses.stream();
    const failed = r.read({ event: 'response.failed', data: JSON.stringify({ type: 'response.failed', sequence_number: 5, response: response('failed', { error, usage }) }) });
    expect(failed).toMatchObject({ done: true, error: 'The model failed to generate a response.', usage: { totalTokens: 48 } });
    const bare = r.read({ event: 'response.failed', data: JSON.stringify({ type: 'response.failed', response: response('failed') }) });
    expect(bare).toMatchObject({ done: true, error: 'the response failed' });
    expect(bare.usage).toBeUndefined();
  });

  it('reads error events as errors', () => {
    const data = '{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached for gpt-4.1","param":null,"sequence_number":2}';
    expect(responses.stream().read({ event: 'error', data })).toEqual({ event: 'error', data, error: 'Rate limit reached for gpt-4.1' });
    expect(responses.stream().read({ event: 'error', data: '{"type":"error","error":{"message":"nested"}}' }).error).toBe('nested');
  });

  it('takes the type from the data, or from the event name when the data has none', () => {
    const r = responses.stream();
    expect(r.read({ event: 'message', data: JSON.stringify(textDelta(1, 'a')) }).text).toBe('a');
    expect(r.read({ event: 'response.output_text.delta', data: '{"delta":"b"}' }).text).toBe('b');
    expect(r.read({ data: '{"delta":"c"}' })).toEqual({ data: '{"delta":"c"}' });
  });

  it('returns blank events with nothing set and throws on data that is not JSON, [DONE] included', () => {
    const r = responses.stream();
    expect(r.read({ event: 'keepalive', data: '' })).toEqual({ event: 'keepalive', data: '' });
    for (const data of ['[DONE]', '{"type":', 'true']) expect(() => r.read({ data })).toThrow('a stream event is not JSON');
  });
});
