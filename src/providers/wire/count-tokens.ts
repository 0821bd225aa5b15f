import { modelOf } from './common.js';
import type { WireReader } from './types.js';

/**
 * The reader of Anthropic's `/v1/messages/count_tokens` answers (`{ "input_tokens": N }`): counting
 * generates nothing and is not billed, so it reports no usage. It does not stream: `stream()` throws.
 *
 * @example
 * countTokensReader.usage({ input_tokens: 42 }); // undefined
 */
export const countTokensReader: WireReader = {
  usage: () => undefined,
  model: modelOf,
  stream() {
    throw new Error('the count_tokens API has no stream');
  },
};
