import { describe, expect, it } from 'vitest';
import { MessagesStreamTranslator, type NeutralStreamChunk } from '../../../src/gateway/translate/messages-stream.js';

interface Event {
  event: string;
  data: Record<string, unknown>;
}

/** Splits SSE text into events, checking the framing (`event:` names the data's `type`). */
function parse(text: string): Event[] {
  expect(text.endsWith('\n\n') || text === '').toBe(true);
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((raw) => {
      const m = /^event: (\w+)\ndata: (.*)$/s.exec(raw);
      expect(m, raw).not.toBeNull();
      const data = JSON.parse(m![2]!) as Record<string, unknown>;
      expect(data.type).toBe(m![1]);
      return { event: m![1]!, data };
    });
}

/** Feeds chunks, then end(); the whole SSE text. */
function run(chunks: NeutralStreamChunk[], options = { model: 'gpt-4o', id: 'msg_test' }): string {
  const t = new MessagesStreamTranslator(options);
  let out = t.start();
  for (const c of chunks) out += t.push(c);
  out += t.end();
  expect(t.ended).toBe(true);
  expect(t.push({ type: 'delta', content: 'late' }) + t.end()).toBe('');
  return out;
}

/** Rebuilds the message as an Anthropic client does: blocks by index, text appended, JSON parsed at the stop. */
function accumulate(events: Event[]): Record<string, unknown> {
  const start = events[0]!.data.message as Record<string, unknown>;
  const content: Record<string, unknown>[] = [];
  const json: string[] = [];
  let final: Record<string, unknown> = {};
  for (const { event, data } of events) {
    const index = data.index as number;
    if (event === 'content_block_start') content[index] = { ...(data.content_block as object) };
    if (event === 'content_block_delta') {
      const delta = data.delta as Record<string, string>;
      if (delta.type === 'text_delta') content[index]!.text += delta.text!;
      else json[index] = (json[index] ?? '') + delta.partial_json;
    }
    if (event === 'content_block_stop' && content[index]!.type === 'tool_use') content[index]!.input = JSON.parse(json[index] || '{}');
    if (event === 'message_delta') final = data;
  }
  return { ...start, content, ...(final.delta as object), usage: { ...(start.usage as object), ...(final.usage as object) } };
}

const usage = { promptTokens: 120, completionTokens: 30, totalTokens: 150, cachedPromptTokens: 100 };

describe('MessagesStreamTranslator', () => {
  it('streams text as one text block, then the stop reason and usage', () => {
    const events = parse(
      run([
        { type: 'delta', content: 'Hel' },
        { type: 'delta', content: '' },
        { type: 'delta', content: 'lo' },
        { type: 'finish', finishReason: 'stop' },
        { type: 'usage', usage },
      ]),
    );
    expect(events.map((e) => e.event)).toEqual([
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    expect(events[0]!.data).toEqual({
      type: 'message_start',
      message: {
        id: 'msg_test', type: 'message', role: 'assistant', model: 'gpt-4o', content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
    expect(events[1]!.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    expect(events[2]!.data).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
    expect(events[4]!.data).toEqual({ type: 'content_block_stop', index: 0 });
    expect(events[5]!.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { input_tokens: 20, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
    });
    expect(events[6]!.data).toEqual({ type: 'message_stop' });
    expect(accumulate(events)).toMatchObject({ content: [{ type: 'text', text: 'Hello' }], stop_reason: 'end_turn' });
  });

  it('streams text then two tool calls as three blocks, arguments as input_json_delta', () => {
    const chunks: NeutralStreamChunk[] = [
      { type: 'delta', content: 'Let me check.' },
      { type: 'delta', content: '', toolCalls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'Bash', arguments: '' } }] },
      { type: 'delta', content: '', toolCalls: [{ index: 0, function: { arguments: '{"command":' } }] },
      { type: 'delta', content: '', toolCalls: [{ index: 0, function: { arguments: '"ls"}' } }] },
      { type: 'delta', content: '', toolCalls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/a"}' } }] },
      { type: 'finish', finishReason: 'tool_calls' },
      { type: 'usage', usage },
    ];
    const events = parse(run(chunks));
    expect(events.map((e) => `${e.event}${e.data.index ?? ''}`)).toEqual([
      'message_start',
      'content_block_start0', 'content_block_delta0', 'content_block_stop0',
      'content_block_start1', 'content_block_delta1', 'content_block_delta1', 'content_block_stop1',
      'content_block_start2', 'content_block_delta2', 'content_block_stop2',
      'message_delta', 'message_stop',
    ]);
    expect(events[4]!.data.content_block).toEqual({ type: 'tool_use', id: 'call_a', name: 'Bash', input: {} });
    expect(events[5]!.data.delta).toEqual({ type: 'input_json_delta', partial_json: '{"command":' });
    expect(events[8]!.data.content_block).toEqual({ type: 'tool_use', id: 'call_b', name: 'Read', input: {} });
    expect(accumulate(events)).toMatchObject({
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_a', name: 'Bash', input: { command: 'ls' } },
        { type: 'tool_use', id: 'call_b', name: 'Read', input: { file_path: '/a' } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 20, output_tokens: 30, cache_read_input_tokens: 100 },
    });
  });

  it('ends a stream without usage with output_tokens 0, when end() is called', () => {
    const t = new MessagesStreamTranslator({ model: 'm', inputTokens: 42 });
    const text = t.push({ type: 'delta', content: 'x' }) + t.push({ type: 'finish', finishReason: 'length' });
    expect(parse(text).map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop']);
    expect((parse(text)[0]!.data.message as { usage: unknown }).usage).toMatchObject({ input_tokens: 42 });
    const tail = parse(t.end());
    expect(tail.map((e) => e.event)).toEqual(['message_delta', 'message_stop']);
    expect(tail[0]!.data).toEqual({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 0 } });
  });

  it('ends an empty stream as a message with no content', () => {
    const events = parse(run([]));
    expect(events.map((e) => e.event)).toEqual(['message_start', 'message_delta', 'message_stop']);
    expect(accumulate(events)).toMatchObject({ content: [], stop_reason: 'end_turn' });
  });

  it('opens a tool block once its name arrives, with the pieces sent before it; reopens text after tools', () => {
    const chunks: NeutralStreamChunk[] = [
      { type: 'delta', content: '', toolCalls: [{ index: 0, id: 'call_x', function: { arguments: '{"a"' } }] },
      { type: 'delta', content: '', toolCalls: [{ index: 0, function: { name: 'f', arguments: ':1}' } }] },
      { type: 'delta', content: 'after' },
      { type: 'delta', content: '', toolCalls: [{ index: 1, function: { arguments: '{}' } }] },
      { type: 'finish', finishReason: 'stop' },
    ];
    const events = parse(run(chunks));
    const message = accumulate(events);
    const content = message.content as Record<string, unknown>[];
    expect(content[0]).toEqual({ type: 'tool_use', id: 'call_x', name: 'f', input: { a: 1 } });
    expect(content[1]).toEqual({ type: 'text', text: 'after' });
    // A call that never got a name still gets its block (named '', id made up), at the end.
    expect(content[2]).toMatchObject({ type: 'tool_use', name: '', input: {} });
    expect(content[2]!.id).toMatch(/^toolu_/);
    expect(message.stop_reason).toBe('tool_use'); // "stop" with tool calls
    expect(events.filter((e) => e.event === 'content_block_start')).toHaveLength(3);
    expect(events.filter((e) => e.event === 'content_block_stop')).toHaveLength(3);
  });

  it('sends message_start once, whether start() is called or not', () => {
    const t = new MessagesStreamTranslator({ model: 'm' });
    const all = t.start() + t.start() + t.push({ type: 'delta', content: 'a' }) + t.push({ type: 'finish', finishReason: 'stop' }) + t.push({ type: 'usage', usage });
    const events = parse(all);
    expect(events.filter((e) => e.event === 'message_start')).toHaveLength(1);
    expect(events.at(-1)!.event).toBe('message_stop'); // the router's usage chunk ends the message
    expect(t.ended).toBe(true);
    expect((events[0]!.data.message as { id: string }).id).toMatch(/^msg_/);
  });
});
