import { describe, expect, it } from 'vitest';
import { messagesBodyToRequest } from '../../../src/gateway/translate/messages-to-neutral.js';
import { backendLabel } from '../../../src/gateway/translate/untranslatable.js';
import { rejection } from './rejection.js';

const GPT = backendLabel({ name: 'openai', provider: 'openai' });
const ok = { model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] };
const ephemeral = { type: 'ephemeral' };

/** A request as Claude Code sends it: system blocks, tools, tool_use / tool_result turns, cache_control. */
const claudeCode = {
  model: 'gpt-4o',
  max_tokens: 32000,
  stream: true,
  temperature: 1,
  system: [
    { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: ephemeral },
    { type: 'text', text: 'You are an interactive CLI tool that helps users with software engineering tasks.', cache_control: ephemeral },
  ],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>This is a reminder.</system-reminder>' },
        { type: 'text', text: 'list the files', cache_control: ephemeral },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: "I'll list them." },
        { type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'ls', description: 'List files' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01A', content: 'a.ts\nb.ts', is_error: false },
        { type: 'text', text: 'now read a.ts' },
      ],
    },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01B', name: 'Read', input: { file_path: '/repo/a.ts' } }] },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01B', content: [{ type: 'text', text: 'File does not exist.' }], is_error: true, cache_control: ephemeral },
      ],
    },
  ],
  tools: [
    {
      name: 'Bash',
      description: 'Executes a bash command',
      input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'], additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' },
    },
    { name: 'Read', description: 'Reads a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } }, cache_control: ephemeral },
  ],
  tool_choice: { type: 'auto' },
  metadata: { user_id: 'user_5f3a_account_9b1c_session_7d2e' },
};

describe('messagesBodyToRequest', () => {
  it('translates a Claude Code request: system blocks, tools, tool turns; cache_control is not carried', () => {
    const out = messagesBodyToRequest(claudeCode, GPT);
    expect(out.stream).toBe(true);
    expect(out.user).toBe('user_5f3a_account_9b1c_session_7d2e');
    expect(out.request).toEqual({
      model: 'gpt-4o',
      maxTokens: 32000,
      temperature: 1,
      messages: [
        {
          role: 'system',
          content: "You are Claude Code, Anthropic's official CLI for Claude.\n\nYou are an interactive CLI tool that helps users with software engineering tasks.",
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>This is a reminder.</system-reminder>' },
            { type: 'text', text: 'list the files' },
          ],
        },
        {
          role: 'assistant',
          content: "I'll list them.",
          tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls","description":"List files"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_01A', content: 'a.ts\nb.ts' },
        { role: 'user', content: [{ type: 'text', text: 'now read a.ts' }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_01B', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/repo/a.ts"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_01B', content: '[tool error] File does not exist.' },
      ],
      tools: [
        { type: 'function', function: { name: 'Bash', description: 'Executes a bash command', parameters: claudeCode.tools[0]!.input_schema } },
        { type: 'function', function: { name: 'Read', description: 'Reads a file', parameters: claudeCode.tools[1]!.input_schema } },
      ],
      toolChoice: 'auto',
    });
  });

  it('puts a turn\'s tool results before its other blocks, and translates images, stop sequences, top_p, strict tools', () => {
    const out = messagesBodyToRequest(
      {
        ...ok,
        system: 'Be brief',
        top_p: 0.5,
        stop_sequences: ['</answer>', 'STOP'],
        stream: false,
        tools: [{ type: 'custom', name: 'f', input_schema: { type: 'object' }, strict: true }],
        messages: [
          { role: 'assistant', content: 'calling' },
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
              { type: 'tool_result', tool_use_id: 't1' },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' }, cache_control: ephemeral },
            ],
          },
          { role: 'system', content: [{ type: 'text', text: 'Mid-conversation instruction' }] },
        ],
      },
      GPT,
    );
    expect(out).toEqual({
      stream: false,
      request: {
        model: 'gpt-4o',
        maxTokens: 100,
        topP: 0.5,
        stop: ['</answer>', 'STOP'],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' }, strict: true } }],
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'assistant', content: 'calling' },
          { role: 'tool', tool_call_id: 't1', content: '' },
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            ],
          },
          { role: 'system', content: 'Mid-conversation instruction' },
        ],
      },
    });
  });

  it('maps tool_choice auto, any, tool and none to the chat words', () => {
    const choice = (tool_choice: unknown): unknown => messagesBodyToRequest({ ...ok, tool_choice }, GPT).request.toolChoice;
    expect(choice({ type: 'auto' })).toBe('auto');
    expect(choice({ type: 'any' })).toBe('required');
    expect(choice({ type: 'none' })).toBe('none');
    expect(choice({ type: 'tool', name: 'Bash' })).toEqual({ type: 'function', function: { name: 'Bash' } });
    expect(choice({ type: 'auto', disable_parallel_tool_use: false })).toBe('auto');
  });

  it('lets thinking: disabled, empty citations and top-level cache_control through', () => {
    const out = messagesBodyToRequest(
      {
        ...ok,
        thinking: { type: 'disabled' },
        cache_control: ephemeral,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'x', citations: [] }] }],
      },
      GPT,
    );
    expect(out.request.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'x' }] }]);
  });

  it('answers one 400 naming every untranslatable field, top-level ones first', () => {
    const body = {
      ...ok,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      top_k: 5,
      container: 'container_1',
      mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }],
      service_tier: 'auto',
      metadata: { user_id: 'u', team: 'a' },
      tools: [
        { type: 'web_search_20250305', name: 'web_search' },
        { name: 'f', input_schema: { type: 'object' }, input_examples: [{ a: 1 }] },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      system: [{ type: 'text', text: 's', citations: [{ type: 'char_location' }] }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc' } },
            { type: 'search_result', source: 'https://x', title: 't', content: [] },
            { type: 'image', source: { type: 'file', file_id: 'file_1' } },
            { type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'url', url: 'https://x' } }] },
          ],
        },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'ok' }] },
        { role: 'user', content: 'go on' },
      ],
    };
    const err = rejection(() => messagesBodyToRequest(body, GPT));
    expect(err.status).toBe(400);
    expect(err.code).toBe('unsupported_parameter');
    expect(err.param).toBe('thinking');
    expect(err.message).toBe(
      'thinking, top_k, container, mcp_servers, service_tier, system[0].citations, ' +
        'messages[0].content[0] (type "document"), messages[0].content[1] (type "search_result"), messages[0].content[2].source (type "file"), ' +
        'messages[0].content[3].content[0] (type "image"), messages[1].content[0] (type "thinking"), ' +
        'tools[0] (type "web_search_20250305"), tools[1].input_examples, tool_choice.disable_parallel_tool_use, metadata.team: ' +
        'the model is served by backend "openai" (openai), which cannot honour these fields; send them to a model on an Anthropic backend, or leave them out',
    );
  });

  it('refuses a final assistant turn: Anthropic continues it, the chat API would answer it anew', () => {
    const err = rejection(() =>
      messagesBodyToRequest({ ...ok, messages: [{ role: 'user', content: 'Name a colour' }, { role: 'assistant', content: 'The colour is' }] }, GPT),
    );
    expect(err.param).toBe('messages[1]');
    expect(err.message).toMatch(/^messages\[1\] \(a final assistant turn, which Anthropic continues\): the model is served by backend "openai"/);
  });

  it('requires max_tokens, as Anthropic does', () => {
    const { max_tokens: _, ...noCap } = ok;
    const err = rejection(() => messagesBodyToRequest(noCap, GPT));
    expect(err.param).toBe('max_tokens');
    expect(err.message).toBe('max_tokens: is required (got undefined)');
  });

  it('names the field of every malformed value', () => {
    const user = (content: unknown): unknown => ({ ...ok, messages: [{ role: 'user', content }] });
    const assistant = (content: unknown): unknown => ({ ...ok, messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content }] });
    const cases: [unknown, string][] = [
      ['text', 'body'],
      [{ ...ok, model: '' }, 'model'],
      [{ ...ok, max_tokens: 0 }, 'max_tokens'],
      [{ ...ok, max_tokens: '5' }, 'max_tokens'],
      [{ ...ok, messages: [] }, 'messages'],
      [{ ...ok, messages: [7] }, 'messages[0]'],
      [{ ...ok, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role'],
      [user(5), 'messages[0].content'],
      [user([]), 'messages[0].content'],
      [user([{ text: 'no type' }]), 'messages[0].content[0]'],
      [user([{ type: 'text', text: 5 }]), 'messages[0].content[0].text'],
      [user([{ type: 'image', source: 'x' }]), 'messages[0].content[0].source'],
      [user([{ type: 'image', source: { type: 'base64', media_type: 'png', data: 'x' } }]), 'messages[0].content[0].source.media_type'],
      [user([{ type: 'image', source: { type: 'base64', media_type: 'image/png' } }]), 'messages[0].content[0].source.data'],
      [user([{ type: 'image', source: { type: 'url' } }]), 'messages[0].content[0].source.url'],
      [user([{ type: 'tool_result', content: 'x' }]), 'messages[0].content[0].tool_use_id'],
      [user([{ type: 'tool_result', tool_use_id: 't', content: 5 }]), 'messages[0].content[0].content'],
      [user([{ type: 'tool_result', tool_use_id: 't', content: [5] }]), 'messages[0].content[0].content[0]'],
      [user([{ type: 'tool_result', tool_use_id: 't', is_error: 'yes' }]), 'messages[0].content[0].is_error'],
      [assistant([{ type: 'tool_use', name: 'f', input: {} }]), 'messages[1].content[0].id'],
      [assistant([{ type: 'tool_use', id: 't', input: {} }]), 'messages[1].content[0].name'],
      [assistant([{ type: 'tool_use', id: 't', name: 'f', input: [1] }]), 'messages[1].content[0].input'],
      [{ ...ok, system: 5 }, 'system'],
      [{ ...ok, system: [{ type: 'text' }] }, 'system[0].text'],
      [{ ...ok, temperature: 1.5 }, 'temperature'],
      [{ ...ok, top_p: -1 }, 'top_p'],
      [{ ...ok, stop_sequences: 'STOP' }, 'stop_sequences'],
      [{ ...ok, stream: 1 }, 'stream'],
      [{ ...ok, metadata: 'u' }, 'metadata'],
      [{ ...ok, metadata: { user_id: 5 } }, 'metadata.user_id'],
      [{ ...ok, metadata: { user_id: 'a\u0000b' } }, 'metadata.user_id'],
      [{ ...ok, tools: {} }, 'tools'],
      [{ ...ok, tools: [5] }, 'tools[0]'],
      [{ ...ok, tools: [{ input_schema: {} }] }, 'tools[0].name'],
      [{ ...ok, tools: [{ name: 'f' }] }, 'tools[0].input_schema'],
      [{ ...ok, tools: [{ name: 'f', input_schema: {}, description: 5 }] }, 'tools[0].description'],
      [{ ...ok, tools: [{ name: 'f', input_schema: {}, strict: 'yes' }] }, 'tools[0].strict'],
      [{ ...ok, tool_choice: 'auto' }, 'tool_choice'],
      [{ ...ok, tool_choice: { type: 'sometimes' } }, 'tool_choice.type'],
      [{ ...ok, tool_choice: { type: 'tool' } }, 'tool_choice.name'],
      [{ ...ok, tool_choice: { type: 'auto', disable_parallel_tool_use: 1 } }, 'tool_choice.disable_parallel_tool_use'],
    ];
    for (const [body, param] of cases) {
      const err = rejection(() => messagesBodyToRequest(body, GPT));
      expect(err.status, JSON.stringify(body)).toBe(400);
      expect(err.param, JSON.stringify(body)).toBe(param);
      expect(err.message.startsWith(`${param}: `), err.message).toBe(true);
    }
  });
});
