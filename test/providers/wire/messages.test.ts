import { describe, expect, it } from 'vitest';
import { wireReader } from '../../../src/providers/wire/index.js';
import { namedEvents, readSse, textOf } from './read-sse.js';

const messages = wireReader('messages');
const MODEL = 'claude-sonnet-4-5-20250929';
const start = (usage: Record<string, unknown>) => ({
  type: 'message_start',
  message: { id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', type: 'message', role: 'assistant', content: [], model: MODEL, stop_reason: null, stop_sequence: null, usage },
});
const blockStart = (index: number, block: Record<string, unknown>) => ({ type: 'content_block_start', index, content_block: block });
const blockDelta = (index: number, delta: Record<string, unknown>) => ({ type: 'content_block_delta', index, delta });
const blockStop = (index: number) => ({ type: 'content_block_stop', index });
const messageDelta = (stop: string, usage: Record<string, unknown>) => ({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage });

describe('messages: a JSON answer', () => {
  const body = {
    id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content: [{ type: 'text', text: 'Hi! My name is Claude.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 9, service_tier: 'standard' },
  };

  it('counts cache reads and writes into the prompt, as the Anthropic adapter does', () => {
    expect(messages.usage(body)).toEqual({ promptTokens: 2312, completionTokens: 9, totalTokens: 2321, cachedPromptTokens: 2000, cacheWriteTokens: 300 });
    expect(messages.model(body)).toBe(MODEL);
    expect(messages.usage({ usage: { input_tokens: 5, output_tokens: 1 } })).toEqual({ promptTokens: 5, completionTokens: 1, totalTokens: 6 });
  });

  it('passes numbers as sent and needs input and output', () => {
    expect(messages.usage({ usage: { input_tokens: -1, output_tokens: 0.5 } })).toEqual({ promptTokens: -1, completionTokens: 0.5, totalTokens: -0.5 });
    expect(messages.usage({ usage: { input_tokens: 5 } })).toBeUndefined();
    expect(messages.usage({ usage: { output_tokens: 5, cache_read_input_tokens: 3 } })).toBeUndefined();
    expect(messages.usage({})).toBeUndefined();
    expect(messages.usage(null)).toBeUndefined();
  });
});

describe('messages: a stream', () => {
  it('reads text, merges the split usage into running totals, and ends at message_stop', async () => {
    const events = await readSse(
      messages.stream(),
      namedEvents(
        start({ input_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 }),
        blockStart(0, { type: 'text', text: '' }),
        { type: 'ping' },
        blockDelta(0, { type: 'text_delta', text: 'Hello' }),
        blockDelta(0, { type: 'text_delta', text: '!' }),
        blockStop(0),
        messageDelta('end_turn', { output_tokens: 15 }),
        { type: 'message_stop' },
      ),
    );
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(textOf(events)).toBe('Hello!');
    expect(events[0]!.usage).toEqual({ promptTokens: 25, completionTokens: 1, totalTokens: 26, cachedPromptTokens: 0, cacheWriteTokens: 0 });
    expect(events[6]!.usage).toEqual({ promptTokens: 25, completionTokens: 15, totalTokens: 40, cachedPromptTokens: 0, cacheWriteTokens: 0 });
    expect(events[7]).toEqual({ event: 'message_stop', data: '{"type":"message_stop"}', done: true });
    expect(events.filter((e) => e.usage).length).toBe(2);
    expect(events.slice(0, -1).some((e) => e.done || e.error)).toBe(false);
  });

  it('keeps cache counts from message_start when message_delta carries only the output, and takes later input counts', () => {
    const r = messages.stream();
    const read = (e: Record<string, unknown>) => r.read({ event: String(e.type), data: JSON.stringify(e) });
    expect(read(start({ input_tokens: 10, cache_creation_input_tokens: 500, cache_read_input_tokens: 2000, output_tokens: 1 })).usage).toEqual({
      promptTokens: 2510, completionTokens: 1, totalTokens: 2511, cachedPromptTokens: 2000, cacheWriteTokens: 500,
    });
    expect(read(messageDelta('max_tokens', { output_tokens: 300 })).usage).toEqual({ promptTokens: 2510, completionTokens: 300, totalTokens: 2810, cachedPromptTokens: 2000, cacheWriteTokens: 500 });
    // The current API repeats input and cache counts in message_delta (null where unknown).
    expect(read(messageDelta('end_turn', { input_tokens: 12, cache_creation_input_tokens: null, cache_read_input_tokens: 2000, output_tokens: 310, server_tool_use: null })).usage).toEqual({
      promptTokens: 2512, completionTokens: 310, totalTokens: 2822, cachedPromptTokens: 2000, cacheWriteTokens: 500,
    });
  });

  it('reports no usage until input and output are both known; each stream has its own totals', () => {
    const r = messages.stream();
    expect(r.read({ event: 'message_delta', data: JSON.stringify(messageDelta('end_turn', { output_tokens: 7 })) }).usage).toBeUndefined();
    expect(r.read({ event: 'message_start', data: JSON.stringify(start({ input_tokens: 3 })) }).usage).toEqual({ promptTokens: 3, completionTokens: 7, totalTokens: 10 });
    const fresh = messages.stream();
    expect(fresh.read({ event: 'message_delta', data: JSON.stringify(messageDelta('end_turn', { output_tokens: 7 })) }).usage).toBeUndefined();
  });

  it('reads tool names and input JSON, and thinking but not signatures', async () => {
    const events = await readSse(
      messages.stream(),
      namedEvents(
        blockStart(0, { type: 'thinking', thinking: '' }),
        blockDelta(0, { type: 'thinking_delta', thinking: 'I need the weather.' }),
        blockDelta(0, { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' }),
        blockStop(0),
        blockStart(1, { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: {} }),
        blockDelta(1, { type: 'input_json_delta', partial_json: '' }),
        blockDelta(1, { type: 'input_json_delta', partial_json: '{"location": "San Fra' }),
        blockDelta(1, { type: 'input_json_delta', partial_json: 'ncisco, CA"}' }),
        blockStop(1),
        blockStart(2, { type: 'server_tool_use', id: 'srvtoolu_014hJH82Qum7Td6UV8gDXThB', name: 'web_search', input: {} }),
        blockStart(3, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP' }),
        blockDelta(4, { type: 'citations_delta', citation: { type: 'char_location', cited_text: 'quoted' } }),
      ),
    );
    expect(events.map((e) => e.text ?? '')).toEqual(['', 'I need the weather.', '', '', 'get_weather', '', '{"location": "San Fra', 'ncisco, CA"}', '', 'web_search', '', '']);
  });

  it('reads error events as errors with their message', () => {
    const data = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
    expect(messages.stream().read({ event: 'error', data })).toEqual({ event: 'error', data, error: 'Overloaded' });
    expect(messages.stream().read({ event: 'error', data: '{"type":"error","message":"flat"}' }).error).toBe('flat');
  });

  it('takes the type from the data, or the event name; blank data reads nothing; other data must be JSON', () => {
    const r = messages.stream();
    expect(r.read({ event: 'message_stop', data: '{}' }).done).toBe(true);
    expect(r.read({ event: 'message', data: '{"type":"message_stop"}' }).done).toBe(true);
    expect(r.read({ event: 'ping', data: '' })).toEqual({ event: 'ping', data: '' });
    for (const data of ['[DONE]', '{"type":"ping"', '"ping"']) expect(() => r.read({ event: 'ping', data })).toThrow('a stream event is not JSON');
  });
});
