import { describe, expect, it } from 'vitest';
import {
  anthropicUsage,
  messageJson,
  newMessageId,
  RAW_ARGUMENTS_KEY,
  stopReason,
  toolInput,
} from '../../../src/gateway/translate/neutral-to-messages.js';

const usage = { promptTokens: 1200, completionTokens: 40, totalTokens: 1240, cachedPromptTokens: 1000, cacheWriteTokens: 150 };

describe('messageJson', () => {
  it('answers text as an Anthropic message, usage split as Anthropic counts it', () => {
    const json = messageJson({ content: 'Hello!', finishReason: 'stop', model: 'gpt-4o-2024-08-06', usage }, 'gpt-4o', 'msg_1');
    expect(json).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-2024-08-06',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 50, output_tokens: 40, cache_creation_input_tokens: 150, cache_read_input_tokens: 1000 },
    });
  });

  it('answers tool calls as tool_use blocks with parsed input, after the text', () => {
    const json = messageJson(
      {
        content: 'Let me look.',
        toolCalls: [
          { id: 'call_a', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls -la"}' } },
          { id: 'call_b', type: 'function', function: { name: 'Now', arguments: '' } },
          { id: 'call_c', type: 'function', function: { name: 'Broken', arguments: '{"path": "/a' } },
        ],
        finishReason: 'tool_calls',
        model: '',
        usage: { promptTokens: 10, completionTokens: 5, totalTokens: 15 },
      },
      'gpt-4o',
    );
    expect(json.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(json.model).toBe('gpt-4o'); // the answer named none
    expect(json.content).toEqual([
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_use', id: 'call_a', name: 'Bash', input: { command: 'ls -la' } },
      { type: 'tool_use', id: 'call_b', name: 'Now', input: {} },
      { type: 'tool_use', id: 'call_c', name: 'Broken', input: { [RAW_ARGUMENTS_KEY]: '{"path": "/a' } },
    ]);
    expect(json.stop_reason).toBe('tool_use');
    expect(json.usage).toEqual({ input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('answers no text as no block, and no usage as zeros', () => {
    const json = messageJson({ content: null, finishReason: 'length', model: 'm' }, 'm');
    expect(json.content).toEqual([]);
    expect(json.stop_reason).toBe('max_tokens');
    expect(json.usage).toEqual(anthropicUsage(undefined));
    expect(anthropicUsage(undefined)).toEqual({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });
});

describe('stopReason', () => {
  it('maps the chat finish reasons', () => {
    expect(stopReason('stop', false)).toBe('end_turn');
    expect(stopReason('length', false)).toBe('max_tokens');
    expect(stopReason('tool_calls', true)).toBe('tool_use');
    expect(stopReason('function_call', true)).toBe('tool_use');
    expect(stopReason('content_filter', false)).toBe('refusal');
    expect(stopReason(null, false)).toBe('end_turn');
    expect(stopReason('something_new', false)).toBe('end_turn');
    // Some OpenAI-compatible servers say "stop" after tool calls: Anthropic clients run tools on tool_use.
    expect(stopReason('stop', true)).toBe('tool_use');
    expect(stopReason('length', true)).toBe('max_tokens');
  });
});

describe('toolInput', () => {
  it('parses an object, keeps anything else raw', () => {
    expect(toolInput('{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(toolInput('  ')).toEqual({});
    expect(toolInput('[1]')).toEqual({ [RAW_ARGUMENTS_KEY]: '[1]' });
    expect(toolInput('"s"')).toEqual({ [RAW_ARGUMENTS_KEY]: '"s"' });
    expect(toolInput('{oops')).toEqual({ [RAW_ARGUMENTS_KEY]: '{oops' });
  });

  it('never counts cached tokens twice, nor below zero', () => {
    expect(anthropicUsage({ promptTokens: 5, completionTokens: 1, totalTokens: 6, cachedPromptTokens: 9 }).input_tokens).toBe(0);
    expect(newMessageId()).not.toBe(newMessageId());
  });
});
