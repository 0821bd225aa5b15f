import { describe, expect, it } from 'vitest';
import { wireReader, chatUsage } from '../../../src/providers/wire/index.js';
import { mapUsage } from '../../../src/providers/openai-compatible.js';
import { dataLines, readSse, textOf } from './read-sse.js';

const chat = wireReader('chat');
const head = '"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035"';
const chunk = (choices: unknown[], usage: unknown = null): string => `{${head},"choices":${JSON.stringify(choices)},"usage":${JSON.stringify(usage)}}`;
const delta = (index: number, d: Record<string, unknown>, finish: string | null = null) => ({ index, delta: d, logprobs: null, finish_reason: finish });
const finalUsage = {
  prompt_tokens: 19,
  completion_tokens: 10,
  total_tokens: 29,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

describe('chat: a JSON answer', () => {
  const body = {
    id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
    object: 'chat.completion',
    created: 1741569952,
    model: 'gpt-4.1-2025-04-14',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: 1117,
      completion_tokens: 46,
      total_tokens: 1163,
      prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 12, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: 'default',
  };

  it('reads usage with cached and reasoning tokens, and the model', () => {
    expect(chat.usage(body)).toEqual({ promptTokens: 1117, completionTokens: 46, totalTokens: 1163, cachedPromptTokens: 1024, reasoningTokens: 12 });
    expect(chat.model(body)).toBe('gpt-4.1-2025-04-14');
  });

  it('passes numbers as sent (negative, fractional, huge) when both counts are numbers', () => {
    expect(chat.usage({ usage: { prompt_tokens: -5, completion_tokens: 2.5 } })).toEqual({ promptTokens: -5, completionTokens: 2.5, totalTokens: -2.5 });
    expect(chat.usage({ usage: { prompt_tokens: 2 ** 60, completion_tokens: 0 } })?.promptTokens).toBe(2 ** 60);
  });

  it('reports no usage without two numeric counts, and no model unless a non-empty string', () => {
    for (const usage of [undefined, null, 7, 'x', [], {}, { prompt_tokens: 3 }, { prompt_tokens: '3', completion_tokens: 1 }, { prompt_tokens: 3, completion_tokens: null }]) {
      expect(chat.usage({ usage })).toBeUndefined();
    }
    for (const body of [null, 'text', [], 42]) expect(chat.usage(body)).toBeUndefined();
    for (const model of [undefined, '', 7, null]) expect(chat.model({ model })).toBeUndefined();
    expect(chat.model(null)).toBeUndefined();
  });

  it('ignores non-numeric detail counts', () => {
    expect(chat.usage({ usage: { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: '2' }, completion_tokens_details: null } })).toEqual({ promptTokens: 3, completionTokens: 1, totalTokens: 4 });
  });

  it('is what openai-compatible mapUsage does', () => {
    expect(mapUsage(body.usage)).toEqual(chatUsage(body.usage));
    expect(mapUsage({ prompt_tokens: 1 })).toBeUndefined();
  });
});

describe('chat: a stream', () => {
  it('reads text, the include_usage chunk and [DONE], copying event and data', async () => {
    const events = await readSse(
      chat.stream(),
      dataLines(
        chunk([delta(0, { role: 'assistant', content: '', refusal: null })]),
        chunk([delta(0, { content: 'Hello' })]),
        chunk([delta(0, { content: ' there' })]),
        chunk([delta(0, {}, 'stop')]),
        chunk([], finalUsage),
        '[DONE]',
      ),
    );
    expect(events.map((e) => e.data.slice(0, 7))).toEqual(['{"id":"', '{"id":"', '{"id":"', '{"id":"', '{"id":"', '[DONE]']);
    expect(events.every((e) => e.event === 'message')).toBe(true);
    expect(textOf(events)).toBe('Hello there');
    expect(events[0]).toEqual({ event: 'message', data: expect.any(String) });
    expect(events[4]).toMatchObject({ usage: { promptTokens: 19, completionTokens: 10, totalTokens: 29, cachedPromptTokens: 0, reasoningTokens: 0 }, usageOnly: true });
    expect(events[4]!.text).toBeUndefined();
    expect(events[5]).toEqual({ event: 'message', data: '[DONE]', done: true });
    expect(events.slice(0, 5).some((e) => e.done || e.error)).toBe(false);
  });

  it('reads every choice of n=2, interleaved', async () => {
    const events = await readSse(
      chat.stream(),
      dataLines(
        chunk([delta(0, { role: 'assistant', content: '' }), delta(1, { role: 'assistant', content: '' })]),
        chunk([delta(0, { content: 'Red' })]),
        chunk([delta(1, { content: 'Blue' })]),
        chunk([delta(0, { content: '!' }), delta(1, { content: '?' })]),
        chunk([delta(0, {}, 'stop')]),
        chunk([delta(1, {}, 'stop')]),
        chunk([], { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 }),
        '[DONE]',
      ),
    );
    expect(events.map((e) => e.text ?? '')).toEqual(['', 'Red', 'Blue', '!?', '', '', '', '']);
    expect(events[6]!.usage).toEqual({ promptTokens: 9, completionTokens: 4, totalTokens: 13 });
  });

  it('reads tool-call names and arguments, refusals and reasoning', () => {
    const r = chat.stream();
    const call = { index: 0, id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', type: 'function', function: { name: 'get_weather', arguments: '' } };
    expect(r.read({ data: chunk([delta(0, { role: 'assistant', content: null, tool_calls: [call], refusal: null })]) }).text).toBe('get_weather');
    expect(r.read({ data: chunk([delta(0, { tool_calls: [{ index: 0, function: { arguments: '{"loc' } }] })]) }).text).toBe('{"loc');
    expect(r.read({ data: chunk([delta(0, { tool_calls: [{ index: 0, function: { arguments: 'ation":"Paris"}' } }, { index: 1, id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } }] })]) }).text).toBe('ation":"Paris"}now{}');
    expect(r.read({ data: chunk([delta(0, { refusal: "I'm sorry" })]) }).text).toBe("I'm sorry");
    expect(r.read({ data: chunk([delta(0, { content: null, reasoning_content: 'Let me think' })]) }).text).toBe('Let me think');
    expect(r.read({ data: chunk([delta(0, { reasoning: 'Hmm', content: '' })]) }).text).toBe('Hmm');
    expect(r.read({ data: chunk([delta(0, { function_call: { name: 'legacy', arguments: '{}' } })]) }).text).toBe('legacy{}');
    expect(r.read({ data: chunk([delta(0, { reasoning: { effort: 'high' }, content: 5, tool_calls: 'x' })]) }).text).toBeUndefined();
  });

  it('reports usage on a chunk that also has choices, without usageOnly', () => {
    const ev = chat.stream().read({ data: chunk([delta(0, { content: 'x' }, 'stop')], { prompt_tokens: 1, completion_tokens: 1 }) });
    expect(ev).toMatchObject({ text: 'x', usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } });
    expect(ev.usageOnly).toBeUndefined();
    const noChoices = chat.stream().read({ data: `{${head},"usage":{"prompt_tokens":2,"completion_tokens":3}}` });
    expect(noChoices).toMatchObject({ usage: { totalTokens: 5 }, usageOnly: true });
    expect(chat.stream().read({ data: chunk([], null) }).usageOnly).toBeUndefined();
  });

  it('reads a mid-stream error chunk as an error with its message', () => {
    const r = chat.stream();
    const data = '{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}';
    expect(r.read({ data })).toEqual({ data, error: 'The server had an error while processing your request. Sorry about that!' });
    expect(r.read({ data: '{"error":"upstream overloaded"}' }).error).toBe('upstream overloaded');
    expect(r.read({ data: '{"error":{"code":502}}' }).error).toBe('{"code":502}');
    expect(r.read({ data: chunk([delta(0, { content: 'a' })]) }).error).toBeUndefined();
    expect(r.read({ data: '{"error":null,"choices":[]}' }).error).toBeUndefined();
  });

  it('returns blank events with nothing set and throws on data that is not JSON', () => {
    const r = chat.stream();
    expect(r.read({ data: '' })).toEqual({ data: '' });
    expect(r.read({ event: 'message', data: '  \n ' })).toEqual({ event: 'message', data: '  \n ' });
    for (const data of ['{"choices":[', 'DONE', '[DONE] ', 'data: {}']) {
      expect(() => r.read({ data })).toThrow('a stream event is not JSON');
    }
    for (const data of ['42', '"text"', '[1]', 'null']) expect(() => r.read({ data })).toThrow('a stream event is not JSON');
  });
});
