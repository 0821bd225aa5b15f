import { describe, expect, it } from 'vitest';
import { chatBodyToRequest } from '../../../src/gateway/translate/chat-to-neutral.js';
import { backendLabel } from '../../../src/gateway/translate/untranslatable.js';
import { rejection } from './rejection.js';

const CLAUDE = backendLabel({ name: 'claude', provider: 'anthropic' });
const ok = { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }] };

describe('chatBodyToRequest', () => {
  it('translates every field the neutral request carries', () => {
    const tools = [{ type: 'function', function: { name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: {} }, strict: true } }];
    const messages = [
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'auto' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'found' },
    ];
    const out = chatBodyToRequest(
      {
        model: 'claude-sonnet-4-5', messages, max_completion_tokens: 300, max_tokens: 999, temperature: 0.5, top_p: 0.9,
        stop: ['END'], tools, tool_choice: { type: 'function', function: { name: 'lookup' } }, stream: true,
        stream_options: { include_usage: true }, user: 'u-1', n: 1,
      },
      CLAUDE,
    );
    expect(out).toEqual({
      request: {
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'system', content: 'Be brief' },
          messages[1],
          { role: 'assistant', content: null, tool_calls: messages[2]!.tool_calls },
          { role: 'tool', content: 'found', tool_call_id: 'call_1' },
        ],
        maxTokens: 300, // max_completion_tokens wins over the deprecated max_tokens
        temperature: 0.5,
        topP: 0.9,
        stop: ['END'],
        tools,
        toolChoice: { type: 'function', function: { name: 'lookup' } },
      },
      stream: true,
      includeUsage: true,
      user: 'u-1',
    });
  });

  it('defaults: not streamed, no usage chunk, no user', () => {
    expect(chatBodyToRequest(ok, CLAUDE)).toEqual({ request: { model: ok.model, messages: ok.messages }, stream: false, includeUsage: false });
  });

  it('answers one 400 naming every untranslatable top-level field, the first as param', () => {
    const err = rejection(() => chatBodyToRequest({ ...ok, response_format: { type: 'json_object' }, seed: 7 }, CLAUDE));
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.code).toBe('unsupported_parameter');
    expect(err.param).toBe('response_format');
    expect(err.message).toBe(
      'response_format, seed: the model is served by backend "claude" (anthropic), which cannot honour these fields; ' +
        'send them to a model on an OpenAI-compatible backend, or leave them out',
    );
  });

  it('says "this field" for one', () => {
    const err = rejection(() => chatBodyToRequest({ ...ok, reasoning_effort: 'high' }, CLAUDE));
    expect(err.param).toBe('reasoning_effort');
    expect(err.message).toBe(
      'reasoning_effort: the model is served by backend "claude" (anthropic), which cannot honour this field; ' +
        'send it to a model on an OpenAI-compatible backend, or leave it out',
    );
  });

  it('lets fields sent at their no-op value through, and null fields', () => {
    const inert = {
      ...ok, logprobs: false, top_logprobs: 0, frequency_penalty: 0, presence_penalty: 0, parallel_tool_calls: true,
      store: false, logit_bias: {}, metadata: {}, modalities: ['text'], seed: null, response_format: null,
      stream_options: { include_usage: false, include_obfuscation: true }, service_tier: 'auto',
      prompt_cache_key: 'session-1', prompt_cache_retention: '24h',
    };
    expect(chatBodyToRequest(inert, CLAUDE).request).toEqual({ model: ok.model, messages: ok.messages });
    // An earlier answer sent back as the openai SDK returned it.
    const echoed = { role: 'assistant', content: 'Hello', refusal: null, annotations: [] };
    const history = chatBodyToRequest({ ...ok, messages: [...ok.messages, echoed, { role: 'user', content: 'Again' }] }, CLAUDE);
    expect(history.request.messages[1]).toEqual({ role: 'assistant', content: 'Hello' });
    const err = rejection(() => chatBodyToRequest({ ...ok, logprobs: true, parallel_tool_calls: false, frequency_penalty: 0.5 }, CLAUDE));
    expect(err.message).toMatch(/^logprobs, parallel_tool_calls, frequency_penalty: /);
  });

  it('names untranslatable parts, message fields, tools and tool choices, top-level fields first', () => {
    const body = {
      ...ok,
      messages: [
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }, { type: 'image_url', image_url: { url: 'https://x', detail: 'high' } }] },
        { role: 'assistant', content: 'hi', audio: { id: 'audio_1' } },
      ],
      tools: [{ type: 'custom', custom: { name: 'grammar' } }, { type: 'function', function: { name: 'f', parameters: {}, extra: 1 } }],
      tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } },
      stream_options: { include_usage: true, chunk_size: 5 },
      prediction: { type: 'content', content: 'x' },
    };
    const err = rejection(() => chatBodyToRequest(body, CLAUDE));
    expect(err.param).toBe('prediction');
    expect(err.message).toMatch(
      /^prediction, messages\[0\]\.content\[0\] \(type "input_audio"\), messages\[0\]\.content\[1\]\.image_url\.detail, messages\[1\]\.audio, stream_options\.chunk_size, tools\[0\] \(type "custom"\), tools\[1\]\.function\.extra, tool_choice \(type "allowed_tools"\): the model is served by backend "claude" \(anthropic\), which cannot honour these fields/,
    );
  });

  it('lists at most 20 fields, then says how many more', () => {
    const body: Record<string, unknown> = { ...ok };
    for (let i = 0; i < 25; i++) body[`x_${i}`] = i;
    const err = rejection(() => chatBodyToRequest(body, CLAUDE));
    expect(err.message).toMatch(/^x_0, x_1, .*x_19 and 5 more: the model is served by/);
  });

  it('refuses n > 1, naming the backend', () => {
    const err = rejection(() => chatBodyToRequest({ ...ok, n: 3 }, CLAUDE));
    expect(err.param).toBe('n');
    expect(err.message).toBe('n: must be 1: the model is served by backend "claude" (anthropic), which answers one choice per call (got 3)');
  });

  it('names the field of every malformed value, as the chat endpoint always did', () => {
    const cases: [unknown, string][] = [
      [null, 'body'],
      [[], 'body'],
      [{ ...ok, model: 5 }, 'model'],
      [{ ...ok, messages: [] }, 'messages'],
      [{ ...ok, messages: [null] }, 'messages[0]'],
      [{ ...ok, messages: [{ role: 'bot', content: 'x' }] }, 'messages[0].role'],
      [{ ...ok, messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      [{ ...ok, messages: [{ role: 'user', content: [{ type: 5 }] }] }, 'messages[0].content[0]'],
      [{ ...ok, messages: [{ role: 'user', content: [{ type: 'text', text: 1 }] }] }, 'messages[0].content[0].text'],
      [{ ...ok, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
      [{ ...ok, messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 1 }] }] }, 'messages[0].tool_calls[0]'],
      [{ ...ok, messages: [{ role: 'user', content: 'x', name: 3 }] }, 'messages[0].name'],
      [{ ...ok, max_tokens: '10' }, 'max_tokens'],
      [{ ...ok, max_tokens: -1 }, 'max_tokens'],
      [{ ...ok, max_completion_tokens: 1.5 }, 'max_completion_tokens'],
      [{ ...ok, temperature: 5 }, 'temperature'],
      [{ ...ok, top_p: 'high' }, 'top_p'],
      [{ ...ok, stream: 'yes' }, 'stream'],
      [{ ...ok, stream_options: { include_usage: 'x' } }, 'stream_options.include_usage'],
      [{ ...ok, stream_options: 3 }, 'stream_options'],
      [{ ...ok, n: 1.5 }, 'n'],
      [{ ...ok, stop: [1] }, 'stop'],
      [{ ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ ...ok, tools: 'x' }, 'tools'],
      [{ ...ok, tools: [{}] }, 'tools[0]'],
      [{ ...ok, tools: [{ type: 'function' }] }, 'tools[0].function'],
      [{ ...ok, tool_choice: 5 }, 'tool_choice'],
      [{ ...ok, tool_choice: 'sometimes' }, 'tool_choice'],
      [{ ...ok, tool_choice: { type: 'function', function: {} } }, 'tool_choice.function'],
      [{ ...ok, user: 42 }, 'user'],
    ];
    for (const [body, param] of cases) {
      const err = rejection(() => chatBodyToRequest(body, CLAUDE));
      expect(err.status, JSON.stringify(body)).toBe(400);
      expect(err.param, JSON.stringify(body)).toBe(param);
      expect(err.message.startsWith(`${param}: `), err.message).toBe(true);
    }
    expect(rejection(() => chatBodyToRequest({ ...ok, messages: [{ role: 'bot', content: 'x' }] }, CLAUDE)).message).toBe(
      'messages[0].role: must be one of system, developer, user, assistant, tool (got "bot")',
    );
  });
});
