import type { EmbeddingResponse } from '../core/types.js';
import { embeddingInputTokens } from '../tokens/embedding-input.js';

const DEFAULT_DIMENSIONS = 8;
const MAX_DIMENSIONS = 4096;

/** FNV-1a of a string: the seed of one input's vector. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A unit vector drawn from `seed` (xorshift), so that one input always embeds the same. */
function vector(seed: number, dimensions: number): number[] {
  let x = seed || 1;
  const out: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(((x >>> 0) / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...out) || 1;
  return out.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

/** `values` as OpenAI's `encoding_format: 'base64'` sends them: little-endian float32, base64. */
function toBase64(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/**
 * The mock's embeddings answer, in OpenAI's shape: one deterministic vector per input (of `dimensions`
 * entries, default 8; base64 float32 when `encoding_format` is `'base64'`, as the `openai` client asks by
 * default), usage counted as the gateway estimates it.
 */
export function mockEmbeddingAnswer(body: Record<string, unknown>, model: string, seed: number): EmbeddingResponse {
  const input = body.input;
  const items: unknown[] = Array.isArray(input) && (typeof input[0] !== 'number') ? input : [input];
  const asked = body.dimensions;
  const dimensions = typeof asked === 'number' && Number.isSafeInteger(asked) && asked > 0 && asked <= MAX_DIMENSIONS ? asked : DEFAULT_DIMENSIONS;
  const base64 = body.encoding_format === 'base64';
  const data = items.map((item, index) => {
    const values = vector(hash(JSON.stringify(item)) ^ seed, dimensions);
    return { object: 'embedding', index, embedding: base64 ? toBase64(values) : values };
  });
  const promptTokens = embeddingInputTokens(input, model) ?? 0;
  return {
    body: { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } },
    usage: { promptTokens },
  };
}
