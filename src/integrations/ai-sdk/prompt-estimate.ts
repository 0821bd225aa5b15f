import type { ChatMessage, ContentPart, ToolCall } from '../../core/types.js';
import type { CallOptions } from './model-types.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens, tokenProfileForModel } from '../../tokens/estimate.js';

type Prompt = CallOptions['prompt'];
type Message = Prompt[number];
type Part = Exclude<Message['content'], string>[number];

/**
 * An upper bound of the prompt tokens of an AI SDK call, with the estimator the router uses
 * (`estimateTokens`): the prompt's messages in OpenAI's shape (text and reasoning parts as text; image
 * files at the full image allowance; audio by its data's size; other files at 8,000 plus their inline
 * data; tool calls and results as their JSON), plus the tool definitions and, for `generateObject`, the
 * JSON schema the provider sends with the request.
 *
 * @example
 * ```ts
 * estimateAiSdkPrompt({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] }, 'gpt-4o');
 * ```
 */
export function estimateAiSdkPrompt(params: Pick<CallOptions, 'prompt' | 'tools' | 'responseFormat'>, model: string): number {
  const inline = { tokens: 0 };
  const messages = params.prompt.map((m) => toChatMessage(m, inline));
  let total = estimateTokens(messages, { model }) + inline.tokens;
  if (params.tools && params.tools.length > 0) total += estimateToolsTokens(params.tools, { model });
  const format = params.responseFormat;
  if (format?.type === 'json') {
    // Providers send the schema (and its name and description) along with the request.
    total += estimateTextTokens(JSON.stringify(format), tokenProfileForModel(model));
  }
  return total;
}

function toChatMessage(message: Message, inline: { tokens: number }): ChatMessage {
  if (message.role === 'system') return { role: 'system', content: message.content };
  const parts: ContentPart[] = [];
  const calls: ToolCall[] = [];
  let toolCallId: string | undefined;
  for (const part of message.content as Part[]) {
    switch (part.type) {
      case 'text':
      case 'reasoning':
        parts.push({ type: 'text', text: part.text });
        break;
      case 'file':
        parts.push(filePart(part.mediaType, part.data, inline));
        break;
      case 'tool-call':
        calls.push({ id: part.toolCallId, type: 'function', function: { name: part.toolName, arguments: jsonText(part.input) } });
        break;
      case 'tool-result':
        toolCallId = part.toolCallId;
        parts.push({ type: 'text', text: part.toolName + jsonText(part.output) });
        break;
      default:
        parts.push({ type: 'text', text: jsonText(part) });
    }
  }
  const out: ChatMessage = { role: message.role, content: parts };
  if (calls.length > 0) out.tool_calls = calls;
  if (toolCallId !== undefined) out.tool_call_id = toolCallId;
  return out;
}

/**
 * A file part in the shape `estimateTokens` prices (an image, audio, a document); what its inline data
 * adds is counted into `inline` by the same rules (audio: 1 token per 16 base64 characters; a document:
 * 1 per character), without building a string of that size.
 */
function filePart(mediaType: string, data: unknown, inline: { tokens: number }): ContentPart {
  if (mediaType.startsWith('image/')) return { type: 'image' };
  const chars = base64Length(data);
  if (mediaType.startsWith('audio/')) {
    inline.tokens += Math.ceil(chars / AUDIO_CHARS_PER_TOKEN);
    return { type: 'input_audio', input_audio: { data: '' } };
  }
  inline.tokens += chars;
  return { type: 'file', file: { file_data: '' } };
}

/** As `estimateTokens` counts inline audio. */
const AUDIO_CHARS_PER_TOKEN = 16;

/** Characters of the data as base64 (how it is sent); 0 for a URL (fetched by the provider). */
function base64Length(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof Uint8Array) return Math.ceil(data.byteLength / 3) * 4;
  return 0;
}

function jsonText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}
