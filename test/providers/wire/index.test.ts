import { describe, expect, it } from 'vitest';
import { WIRE_APIS, type WireApi } from '../../../src/core/types.js';
import { wireReader } from '../../../src/providers/wire/index.js';

describe('wireReader', () => {
  it('has a reader for every wire API', () => {
    for (const api of WIRE_APIS) {
      const reader = wireReader(api);
      expect(typeof reader.usage).toBe('function');
      expect(reader.model({ model: 'm-1' })).toBe('m-1');
    }
  });

  it('refuses an API it does not know, prototype names included', () => {
    expect(() => wireReader('images' as WireApi)).toThrow('unknown wire API "images"');
    expect(() => wireReader('toString' as WireApi)).toThrow('unknown wire API');
  });

  it('gives a fresh stream reader per call where the reader keeps state', () => {
    expect(wireReader('messages').stream()).not.toBe(wireReader('messages').stream());
  });
});

describe('embeddings', () => {
  const embeddings = wireReader('embeddings');
  const body = {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.0023064255, -0.009327292, -0.0028842222] }],
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 8, total_tokens: 8 },
  };

  it('reads prompt tokens as sent, with no completion', () => {
    expect(embeddings.usage(body)).toEqual({ promptTokens: 8, completionTokens: 0, totalTokens: 8 });
    expect(embeddings.model(body)).toBe('text-embedding-3-small');
    expect(embeddings.usage({ usage: { prompt_tokens: -3.5 } })).toEqual({ promptTokens: -3.5, completionTokens: 0, totalTokens: -3.5 });
  });

  it('reports no usage without a numeric prompt count, and has no stream', () => {
    for (const usage of [undefined, null, {}, { total_tokens: 8 }, { prompt_tokens: '8' }]) expect(embeddings.usage({ usage })).toBeUndefined();
    expect(embeddings.usage([])).toBeUndefined();
    expect(() => embeddings.stream()).toThrow('no stream');
  });
});

describe('count_tokens', () => {
  const countTokens = wireReader('count_tokens');

  it('meters nothing and has no stream', () => {
    expect(countTokens.usage({ input_tokens: 2095 })).toBeUndefined();
    expect(countTokens.usage({ usage: { input_tokens: 1, output_tokens: 1 } })).toBeUndefined();
    expect(countTokens.model({ input_tokens: 2095 })).toBeUndefined();
    expect(() => countTokens.stream()).toThrow('no stream');
  });
});
