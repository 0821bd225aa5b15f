import { describe, expect, it } from 'vitest';
import { CallAbortedError, ProviderError } from '../../src/core/errors.js';
import type { ForwardEvent, ForwardRequest } from '../../src/core/types.js';
import { WIRE_APIS } from '../../src/core/types.js';
import { MockBackend } from '../../src/providers/mock.js';
import { mockSchemaValue } from '../../src/providers/mock-schema.js';
import { estimateTextTokens, estimateTokens } from '../../src/tokens/estimate.js';

// forward/forwardStream called directly: options, failures and prompt reading (the wire formats as the
// official clients read them are in mock-wire.test.ts).

const chat = (extra: Record<string, unknown> = {}): ForwardRequest => ({
  api: 'chat',
  model: 'mock-1',
  body: { model: 'mock-1', messages: [{ role: 'user', content: 'Count the tokens of this thread' }], ...extra },
});

async function collect(stream: AsyncIterable<ForwardEvent>): Promise<ForwardEvent[]> {
  const out: ForwardEvent[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

describe('MockBackend.forward / forwardStream', () => {
  it('declares every wire API', () => {
    expect(new MockBackend().apis).toEqual(WIRE_APIS);
  });

  it('honours completionTokens (per choice) and reportUsage: false (no usage anywhere)', async () => {
    const fixed = await new MockBackend({ completionTokens: 5 }).forward(chat({ n: 3 }));
    expect(fixed.usage?.completionTokens).toBe(15);
    expect((fixed.body as { choices: unknown[] }).choices).toHaveLength(3);
    const silent = new MockBackend({ reportUsage: false });
    const answer = await silent.forward(chat());
    expect(answer.usage).toBeUndefined();
    expect(answer.body).not.toHaveProperty('usage');
    const events = await collect(silent.forwardStream(chat({ stream: true, stream_options: { include_usage: true } })));
    expect(events.some((e) => e.usage !== undefined || e.usageOnly === true || e.data.includes('"usage"'))).toBe(false);
    for (const api of ['responses', 'messages'] as const) {
      const body = { model: 'm', input: 'hi', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
      expect((await silent.forward({ api, model: 'm', body })).body).not.toHaveProperty('usage');
    }
  });

  it('uses the reply option for text answers, cut at the cap', async () => {
    const mock = new MockBackend({ reply: () => 'one two three four five six seven eight' });
    const res = await mock.forward({ api: 'messages', model: 'm', body: { model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] } });
    expect(res.body).toMatchObject({ content: [{ type: 'text', text: expect.stringMatching(/^one/) }], stop_reason: 'max_tokens' });
    expect(res.usage?.completionTokens).toBe(2);
  });

  it('reads responses input items and instructions as the prompt', async () => {
    const mock = new MockBackend();
    const items = [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Find the weather' }] },
      { type: 'function_call', call_id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
    ];
    const res = await mock.forward({ api: 'responses', model: 'm', body: { model: 'm', instructions: 'Be brief.', input: items } });
    const expected = estimateTokens(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'input_text', text: 'Find the weather' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
      ],
      { model: 'm' },
    );
    expect(res.usage?.promptTokens).toBe(expected);
    expect((res.body as { output: Array<{ content: Array<{ text: string }> }> }).output[0]?.content[0]?.text).toMatch(/^Re: Find the weather\./);
  });

  it('answers n choices per prompt of a legacy completions prompt list, counting each prompt as plain text', async () => {
    const res = await new MockBackend().forward({ api: 'completions', model: 'm', body: { model: 'm', prompt: ['first prompt', 'second'], n: 2 } });
    const body = res.body as { choices: Array<{ index: number; text: string }> };
    expect(body.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(body.choices.map((c) => c.text)).size).toBe(4);
    expect(res.usage?.promptTokens).toBe(estimateTextTokens('first prompt') + estimateTextTokens('second'));
  });

  it('counts tokens without billing them', async () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hello there' }] };
    const mock = new MockBackend();
    const counted = await mock.forward({ api: 'count_tokens', model: 'm', body });
    const answered = await mock.forward({ api: 'messages', model: 'm', body: { ...body, max_tokens: 5 } });
    expect(counted.body).toEqual({ input_tokens: answered.usage?.promptTokens });
    expect(counted.usage).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('fails like complete and stream: 429 with retryAfterMs, a truncated stream after half its events, abort', async () => {
    const limited = new MockBackend({ failureRate: 1, failWith: '429', retryAfterMs: 250 });
    await expect(limited.forward(chat())).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 250 });
    await expect(collect(limited.forwardStream(chat({ stream: true })))).rejects.toBeInstanceOf(ProviderError);

    const whole = await collect(new MockBackend().forwardStream({ api: 'messages', model: 'm', body: { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] } }));
    const truncated = new MockBackend({ failureRate: 1, failWith: 'truncated' });
    const seen: ForwardEvent[] = [];
    const run = async (): Promise<void> => {
      for await (const e of truncated.forwardStream({ api: 'messages', model: 'm', body: { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] } })) seen.push(e);
    };
    await expect(run()).rejects.toMatchObject({ code: 'STREAM_TRUNCATED' });
    expect(seen).toEqual(whole.slice(0, Math.floor(whole.length / 2)));
    expect(seen.some((e) => e.done)).toBe(false);

    const controller = new AbortController();
    const slow = new MockBackend({ chunkDelayMs: 20 });
    const got: ForwardEvent[] = [];
    const aborted = (async () => {
      for await (const e of slow.forwardStream({ ...chat({ stream: true }), signal: controller.signal })) {
        got.push(e);
        if (e.text !== undefined) controller.abort();
      }
    })();
    await expect(aborted).rejects.toBeInstanceOf(CallAbortedError);
    expect(got.filter((e) => e.text !== undefined)).toHaveLength(1);
    await expect(new MockBackend({ latencyMs: 1000 }).forward({ ...chat(), signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CallAbortedError);
  });

  it('refuses to stream embeddings and count_tokens', async () => {
    await expect(collect(new MockBackend().forwardStream({ api: 'embeddings', model: 'e', body: { input: 'x' } }))).rejects.toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
  });
});

describe('mockSchemaValue', () => {
  it('fills refs, unions, allOf, bounds, formats and minItems', () => {
    const rng = (): number => 0.5;
    const schema = {
      type: 'object',
      $defs: { Person: { type: 'object', properties: { name: { type: 'string', minLength: 20 } }, required: ['name'] } },
      properties: {
        who: { $ref: '#/$defs/Person' },
        maybe: { anyOf: [{ type: 'null' }, { type: 'integer', exclusiveMinimum: 3, maximum: 9 }] },
        both: { allOf: [{ properties: { a: { type: 'boolean' } } }, { properties: { b: { type: 'number', maximum: 0.5 } } }] },
        list: { type: 'array', items: { const: 'x' }, minItems: 2 },
        when: { type: ['string', 'null'], format: 'date-time' },
      },
    };
    const value = mockSchemaValue(schema, rng) as Record<string, unknown>;
    expect(value).toEqual({ who: { name: expect.any(String) }, maybe: 4, both: { a: true, b: 0.5 }, list: ['x', 'x'], when: '2025-01-01T00:00:00Z' });
    expect((value.who as { name: string }).name.length).toBeGreaterThanOrEqual(20);
  });
});
