/**
 * The translations agree with the Anthropic backend's own converter: a Messages body read into the neutral
 * request and written back by `toAnthropicBody` says what the client said (cache hints aside).
 */
import { describe, expect, it } from 'vitest';
import { toAnthropicBody } from '../../../src/providers/anthropic-convert.js';
import { chatBodyToRequest } from '../../../src/gateway/translate/chat-to-neutral.js';
import { messagesBodyToRequest } from '../../../src/gateway/translate/messages-to-neutral.js';

describe('neutral round trip through the Anthropic converter', () => {
  it('gives back a Messages body equal to the one sent', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'You are terse.',
      temperature: 0.2,
      stop_sequences: ['###'],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18C, cloudy' }] },
      ],
      tools: [{ name: 'weather', description: 'Current weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'tool', name: 'weather' },
    };
    const { request } = messagesBodyToRequest(body, '"gpt" (openai)');
    expect(toAnthropicBody(request, 4096)).toEqual(body);
  });

  it('a chat body read for the Anthropic backend converts without error', () => {
    const { request } = chatBodyToRequest(
      {
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'developer', content: 'Be brief' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'one' },
        ],
        max_tokens: 64,
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        tool_choice: 'required',
      },
      '"claude" (anthropic)',
    );
    expect(toAnthropicBody(request, 4096)).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      system: 'Be brief',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: { x: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'one' }] },
      ],
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
    });
  });
});
