import { isPlainObject } from '../../core/objects.js';
import { modelOf } from './common.js';
import type { WireReader } from './types.js';

/**
 * The reader of OpenAI's `/embeddings` answers: `usage.prompt_tokens` (as sent) is the prompt, the
 * completion is 0. Embeddings do not stream: `stream()` throws.
 *
 * @example
 * embeddingsReader.usage({ usage: { prompt_tokens: 8, total_tokens: 8 } }); // { promptTokens: 8, completionTokens: 0, totalTokens: 8 }
 */
export const embeddingsReader: WireReader = {
  usage(body) {
    const usage = isPlainObject(body) ? body.usage : undefined;
    if (!isPlainObject(usage) || typeof usage.prompt_tokens !== 'number') return undefined;
    return { promptTokens: usage.prompt_tokens, completionTokens: 0, totalTokens: usage.prompt_tokens };
  },
  model: modelOf,
  stream() {
    throw new Error('the embeddings API has no stream');
  },
};
