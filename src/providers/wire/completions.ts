import { isPlainObject } from '../../core/objects.js';
import { chatUsage, openAIChunkReader } from './chat.js';
import { modelOf, str } from './common.js';
import type { WireReader } from './types.js';

/** The output text of one streamed legacy completion choice. */
function completionChoiceText(choice: Record<string, unknown>): string {
  return str(choice.text);
}

/**
 * The reader of OpenAI's legacy `/completions` answers: chat's usage object, stream text from
 * `choices[].text`, `[DONE]` at the end.
 *
 * @example
 * completionsReader.stream().read({ data: '{"choices":[{"index":0,"text":" world"}]}' }).text; // ' world'
 */
export const completionsReader: WireReader = {
  usage: (body) => (isPlainObject(body) ? chatUsage(body.usage) : undefined),
  model: modelOf,
  stream: () => openAIChunkReader(completionChoiceText),
};
