import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as encodeChatGpt4 } from 'gpt-tokenizer/model/gpt-4';
import { countChatCompletionTokens, encodeChat } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import {
  estimateTextTokens,
  estimateTokens,
  estimateToolsTokens,
  tokenProfileForModel,
} from '../../src/tokens/estimate.js';
import { PRECISE_LIMIT } from '../../src/tokens/text.js';
import type { ChatMessage } from '../../src/core/types.js';

function validationField(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
  throw new Error('expected a ValidationError');
}

describe('estimateTextTokens', () => {
  it('is 0 for empty text and at least 1 for any non-empty text', () => {
    expect(estimateTextTokens('')).toBe(0);
    for (const text of ['a', ' ', '\n', '!', '7', '中', '😀', 'é']) {
      expect(estimateTextTokens(text), JSON.stringify(text)).toBeGreaterThanOrEqual(1);
    }
  });

  it('prices common English at about one token per word, random letters at more', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    expect(estimateTextTokens(text)).toBeGreaterThanOrEqual(10);
    expect(estimateTextTokens(text)).toBeLessThanOrEqual(13);
    expect(estimateTextTokens('Tqx vbzkw jrpnf mhdq gxlsv zrkt wqbd.')).toBeGreaterThan(25);
  });

  it('never exceeds the UTF-8 byte length, an upper bound of any byte-level BPE', () => {
    expect(estimateTextTokens('\r'.repeat(100))).toBe(100);
    expect(estimateTextTokens('a\u0301'.repeat(10))).toBeLessThanOrEqual(30);
    expect(estimateTextTokens('\ud800')).toBeLessThanOrEqual(3);
  });

  it('prices digits in groups of three', () => {
    expect(estimateTextTokens('123456789')).toBe(Math.ceil(3 * 1.1));
    expect(estimateTextTokens('1234567890')).toBe(Math.ceil(4 * 1.1));
  });

  it('prices opaque ids (letters mixed with digits) per character', () => {
    const id = 'SflKxwRJSMeKKF2QT4fwpMeJf36POk5yJV';
    expect(estimateTextTokens(id)).toBeGreaterThanOrEqual(Math.ceil(id.length * 0.65));
  });

  it('prices CJK per character, less under the o200k profile', () => {
    const text = '人工智能正在深刻地改变我们的生活方式';
    expect(estimateTextTokens(text)).toBeGreaterThanOrEqual(text.length);
    expect(estimateTextTokens(text, 'o200k')).toBeLessThan(estimateTextTokens(text));
    expect(estimateTextTokens(text, 'o200k')).toBeGreaterThanOrEqual(Math.ceil(text.length * 0.8));
  });

  it('prices emoji by code point and keeps surrogate pairs together', () => {
    expect(estimateTextTokens('🎉')).toBe(Math.ceil(3.5 * 1.1));
    expect(estimateTextTokens('🎉', 'o200k')).toBe(Math.ceil(3.1 * 1.1));
    expect(estimateTextTokens('🎉🎉🎉')).toBe(Math.ceil(9.5 * 1.1));
  });

  it('charges indentation and newlines but not the space before a word', () => {
    const words = 'the cat sat on the mat and it was happy';
    expect(estimateTextTokens(' ' + words)).toBe(Math.ceil(10 * 1.1)); // every space joins its word
    expect(estimateTextTokens(' ' + words.replaceAll(' ', '  '))).toBe(Math.ceil(19 * 1.1));
    expect(estimateTextTokens('a\n    b')).toBeGreaterThan(estimateTextTokens('a b'));
  });

  it('bounds texts past PRECISE_LIMIT by the UTF-8 length of the rest, still above the real count', () => {
    const sentence = 'The committee met on a grey Tuesday morning to decide about the bridge. ';
    const big = sentence.repeat(Math.ceil((PRECISE_LIMIT + 200_000) / sentence.length));
    const head = big.slice(0, PRECISE_LIMIT);
    const tail = big.slice(PRECISE_LIMIT);
    expect(estimateTextTokens(big, 'o200k')).toBe(estimateTextTokens(head, 'o200k') + Buffer.byteLength(tail) + 1);
    expect(estimateTextTokens(big, 'o200k')).toBeGreaterThanOrEqual(encodeO200k(big).length);
    // The cut never splits a surrogate pair: the emoji is counted whole, in the tail.
    const emoji = 'a'.repeat(PRECISE_LIMIT - 1) + '😀' + 'b'.repeat(10);
    expect(estimateTextTokens(emoji)).toBe(estimateTextTokens('a'.repeat(PRECISE_LIMIT - 1)) + Buffer.byteLength('😀' + 'b'.repeat(10)) + 1);
  });

  it('rejects non-string text and unknown profiles', () => {
    expect(validationField(() => estimateTextTokens(42 as never))).toBe('text');
    expect(validationField(() => estimateTextTokens('x', 'p50k' as never))).toBe('profile');
  });
});

describe('tokenProfileForModel', () => {
  it.each([
    ['gpt-4o', 'o200k'],
    ['gpt-4o-mini-2024-07-18', 'o200k'],
    ['gpt-4.1-nano', 'o200k'],
    ['gpt-5', 'o200k'],
    ['o1', 'o200k'],
    ['o3-mini', 'o200k'],
    ['o4-mini', 'o200k'],
    ['openai/gpt-4o', 'o200k'],
    ['gpt-4', 'conservative'],
    ['gpt-3.5-turbo', 'conservative'],
    ['claude-sonnet-4', 'conservative'],
    ['grok-4.1', 'conservative'],
    ['omni-moderation-latest', 'conservative'],
  ])('%s → %s', (model, profile) => {
    expect(tokenProfileForModel(model)).toBe(profile);
  });
});

describe('estimateTokens', () => {
  it('adds 4 tokens and the role per message and 3 for the reply, like the OpenAI chat format', () => {
    expect(estimateTokens([])).toBe(3);
    expect(estimateTokens([{ role: 'user', content: '' }])).toBe(8);
    expect(estimateTokens([{ role: 'user', content: 'hi' }])).toBe(8 + estimateTextTokens('hi'));
    expect(
      estimateTokens([
        { role: 'system', content: null },
        { role: 'user', content: '' },
      ]),
    ).toBe(13);
    // An unexpected role is estimated as text (the chat format encodes it).
    expect(estimateTokens([{ role: 'critic-of-everything' as never, content: '' }])).toBe(
      7 + estimateTextTokens('critic-of-everything'),
    );
  });

  it('is at least the chat encoding of gpt-4 and gpt-4o for empty, named and tool messages', () => {
    const plain = { disallowedSpecial: new Set<string>() };
    const chats: ChatMessage[][] = [
      [{ role: 'user', content: '' }],
      [{ role: 'system', content: '' }, { role: 'user', content: '' }, { role: 'assistant', content: '' }],
      [{ role: 'user', content: 'hi', name: 'alice_the_reviewer_42' }],
      [{ role: 'developer', content: '\n \n', name: 'x' }],
      [{ role: 'tool', content: '18', tool_call_id: 'call_Zx81Qp0aLm' }],
    ];
    for (const messages of chats) {
      // encodeChat renders a message as <|im_start|>{name or role}<|im_sep|>{content}<|im_end|>, and
      // ignores tool_call_id: count it as content text, as the API sees it.
      const rendered = messages.map((m) => ({ ...m, content: [m.content, m.tool_call_id].filter(Boolean).join('\n') }));
      for (const [model, encode] of [['gpt-4o', encodeChat], ['gpt-4', encodeChatGpt4]] as const) {
        const actual = encode(rendered as never, undefined, plain).length;
        expect(estimateTokens(messages, { model }), `${model} ${JSON.stringify(messages)}`).toBeGreaterThanOrEqual(actual);
      }
    }
    const call = { id: 'call_9f8e7d', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Zürich","days":[1,2,3]}' } };
    const withCall: ChatMessage[] = [{ role: 'assistant', content: null, tool_calls: [call, call] }];
    const asText = [{ role: 'assistant', content: [call, call].map((c) => `${c.id}\n${c.function.name}\n${c.function.arguments}`).join('\n') }];
    expect(estimateTokens(withCall, { model: 'gpt-4o' })).toBeGreaterThanOrEqual(encodeChat(asText as never).length + 2 * 3);
  });

  it('never under-counts a typical 3-message prompt (gpt-4o)', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant. Answer briefly and cite sources.' },
      { role: 'user', content: 'What is the capital of Australia, and why was it chosen over Sydney?' },
      { role: 'assistant', content: 'Canberra. It was a compromise between Sydney and Melbourne.' },
    ];
    const actual = encodeChat(messages as never).length;
    const estimate = estimateTokens(messages, { model: 'gpt-4o' });
    expect(estimate).toBeGreaterThanOrEqual(actual);
    expect(estimate).toBeLessThan(actual * 1.65);
  });

  it('counts names, tool calls and tool results', () => {
    const base = estimateTokens([{ role: 'user', content: 'x' }]);
    expect(estimateTokens([{ role: 'user', content: 'x', name: 'alice' }])).toBe(
      base + 1 + estimateTextTokens('alice'),
    );
    const args = '{"city":"Paris","unit":"celsius"}';
    const withCall = estimateTokens([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: args } }],
      },
    ]);
    expect(withCall).toBe(
      3 + 5 + 8 + estimateTextTokens('call_1') + estimateTextTokens('get_weather') + estimateTextTokens(args),
    );
    const toolResult = estimateTokens([{ role: 'tool', content: '18 degrees', tool_call_id: 'call_1' }]);
    expect(toolResult).toBe(8 + estimateTextTokens('18 degrees') + estimateTextTokens('call_1'));
  });

  it('sums text parts and charges images by detail', () => {
    const parts = estimateTokens([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe this picture.' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
        ],
      },
    ]);
    expect(parts).toBe(8 + estimateTextTokens('Describe this picture.') + 85 + 3800);
    const mini = estimateTokens([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'u', detail: 'low' } }] }], { model: 'gpt-4o-mini' });
    expect(mini).toBe(8 + 2833);
    const cheaper = estimateTokens(
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/b.png' } }] }],
      { imageTokens: 765 },
    );
    expect(cheaper).toBe(8 + 765);
  });

  it('charges audio by its data, files a fixed allowance, unknown parts from their JSON', () => {
    const data = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEA'.repeat(100);
    const audio = { type: 'input_audio', input_audio: { data, format: 'wav' } };
    expect(estimateTokens([{ role: 'user', content: [audio] }])).toBe(8 + 100 + Math.ceil(data.length / 16));
    const file = { type: 'file', file: { file_id: 'file-abc' } };
    expect(estimateTokens([{ role: 'user', content: [file] }])).toBe(8 + 8000);
    const other = { type: 'refusal', refusal: 'no' };
    expect(estimateTokens([{ role: 'user', content: [other as never] }])).toBe(8 + estimateTextTokens(JSON.stringify(other)));
  });

  it('uses the profile of the model', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Привет! Можешь помочь мне составить письмо начальнику?' }];
    expect(estimateTokens(messages, { model: 'gpt-4o' })).toBeLessThan(estimateTokens(messages, { model: 'gpt-4' }));
    expect(estimateTokens(messages, { model: 'gpt-4o', profile: 'conservative' })).toBe(estimateTokens(messages));
  });

  it('validates its input, naming the field', () => {
    expect(validationField(() => estimateTokens('hello' as never))).toBe('messages');
    expect(validationField(() => estimateTokens([null] as never))).toBe('messages[0]');
    expect(validationField(() => estimateTokens([{ role: 'user', content: 5 }] as never))).toBe('messages[0].content');
    expect(
      validationField(() => estimateTokens([{ role: 'user', content: [{ type: 'text', text: 'a' }, null] }] as never)),
    ).toBe('messages[0].content[1]');
    expect(
      validationField(() => estimateTokens([{ role: 'assistant', content: null, tool_calls: {} }] as never)),
    ).toBe('messages[0].tool_calls');
    expect(validationField(() => estimateTokens([], { imageTokens: -1 }))).toBe('imageTokens');
    expect(validationField(() => estimateTokens([], { profile: 'gpt2' as never }))).toBe('profile');
    expect(validationField(() => estimateTokens([], { model: 7 as never }))).toBe('model');
  });
});

describe('estimateToolsTokens', () => {
  it('is 0 without tools and grows with the definitions', () => {
    expect(estimateToolsTokens(undefined)).toBe(0);
    expect(estimateToolsTokens([])).toBe(0);
    const one = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const two = [...one, { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } }];
    expect(estimateToolsTokens(one)).toBeGreaterThan(10);
    expect(estimateToolsTokens(two)).toBeGreaterThan(estimateToolsTokens(one));
  });

  it('is at least the encoded JSON of the tools and gpt-tokenizer\'s function-calling count', () => {
    const tools = [
      { type: 'function', function: { name: 'get_weather', description: 'Current weather for a city.', parameters: {
        type: 'object', required: ['city'], properties: { city: { type: 'string', description: 'City name' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'array', items: { type: 'integer' } } } } } },
      { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
    ];
    const estimate = estimateToolsTokens(tools, { model: 'gpt-4o' });
    expect(estimate).toBeGreaterThanOrEqual(encodeO200k(JSON.stringify(tools)).length);
    expect(estimateToolsTokens(tools, { model: 'gpt-4' })).toBeGreaterThanOrEqual(encodeCl100k(JSON.stringify(tools)).length);
    const withTools = countChatCompletionTokens!({ messages: [], functions: tools.map((t) => t.function) as never });
    expect(estimate + 3).toBeGreaterThanOrEqual(withTools);
  });
});
