import { describe, expect, it } from 'vitest';
import { wireReader } from '../../../src/providers/wire/index.js';
import { dataLines, readSse, textOf } from './read-sse.js';

const completions = wireReader('completions');
const chunk = (choices: unknown[], usage: unknown = null) =>
  JSON.stringify({ id: 'cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe', object: 'text_completion', created: 1690759702, model: 'gpt-3.5-turbo-instruct', choices, usage });
const choice = (index: number, text: string, finish: string | null = null) => ({ text, index, logprobs: null, finish_reason: finish });

describe('completions (legacy)', () => {
  it('reads usage and model of a JSON answer', () => {
    const body = {
      id: 'cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7',
      object: 'text_completion',
      created: 1589478378,
      model: 'gpt-3.5-turbo-instruct',
      system_fingerprint: 'fp_44709d6fcb',
      choices: [{ text: '\n\nThis is indeed a test', index: 0, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
    };
    expect(completions.usage(body)).toEqual({ promptTokens: 5, completionTokens: 7, totalTokens: 12 });
    expect(completions.model(body)).toBe('gpt-3.5-turbo-instruct');
    expect(completions.usage({ usage: { prompt_tokens: 5 } })).toBeUndefined();
  });

  it('reads streamed text of every choice, the usage chunk and [DONE]', async () => {
    const events = await readSse(
      completions.stream(),
      dataLines(
        chunk([choice(0, 'Once')]),
        chunk([choice(1, 'In')]),
        chunk([choice(0, ' upon'), choice(1, ' a')]),
        chunk([choice(0, '', 'length')]),
        chunk([choice(1, '', 'length')]),
        chunk([], { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 }),
        '[DONE]',
      ),
    );
    expect(events.map((e) => e.text ?? '')).toEqual(['Once', 'In', ' upon a', '', '', '', '']);
    expect(textOf(events)).toBe('OnceIn upon a');
    expect(events[5]).toMatchObject({ usage: { promptTokens: 4, completionTokens: 4, totalTokens: 8 }, usageOnly: true });
    expect(events[6]).toEqual({ event: 'message', data: '[DONE]', done: true });
  });

  it('reads chat-shaped deltas as no text, errors as errors, and throws on data that is not JSON', () => {
    const r = completions.stream();
    expect(r.read({ data: chunk([{ index: 0, delta: { content: 'x' } }]) }).text).toBeUndefined();
    expect(r.read({ data: '{"error":{"message":"overloaded"}}' }).error).toBe('overloaded');
    expect(() => r.read({ data: 'oops' })).toThrow('a stream event is not JSON');
  });
});
