import { ValidationError } from '../core/errors.js';
import type { ChatMessage } from '../core/types.js';
import { isTokenProfile, tokenProfileForModel, type TokenProfile } from './profile.js';
import { estimateTextTokens } from './text.js';

export { estimateTextTokens } from './text.js';
export { tokenProfileForModel, type TokenProfile } from './profile.js';

/** Options of {@link estimateTokens}. */
export interface EstimateTokensOptions {
  /** Model the messages are for; selects the profile (see {@link tokenProfileForModel}) and image allowance. */
  model?: string;
  /** Profile to use; wins over `model`. Default: from `model`, else `conservative`. */
  profile?: TokenProfile;
  /**
   * Tokens charged per image part (85 at `detail: 'low'` when this is larger). Default 3800, or
   * 48,169 for gpt-4o-mini (see IMAGE_TOKENS).
   */
  imageTokens?: number;
}

// Chat framing as OpenAI counts it (tiktoken cookbook) and gpt-tokenizer's encodeChat renders it:
// <|im_start|>{role or name}<|im_sep|>{content}<|im_end|> (cl100k models add a "\n" separator after
// each message), then <|im_start|>assistant<|im_sep|> priming the reply.
// Per message: im_start, role separator, im_end and cl100k's "\n" message separator (o200k models have
// none: one spare token); the role is added on top.
const PER_MESSAGE = 4;
const PER_NAME = 1;
const PER_REPLY = 3;
const ONE_TOKEN_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
/** Around each tool call besides its id, name and arguments (call markers, separators). */
const PER_TOOL_CALL = 8;
/** Around the tool definitions (gpt-tokenizer's function-calling count adds 9). */
const PER_TOOLS = 9;

// Image parts. OpenAI: tile models (gpt-4o, 4.1, 4.5, o1, o3) cost 85 + 170 per 512 px tile, at most
// 1,445 (2048x768: 8 tiles); patch models cost up to 1,536 patches times 1.62 (gpt-4.1-mini), 1.72
// (o4-mini) or 2.46 (gpt-4.1-nano): 3,779 at most; Claude about w*h/750, at most about 1,600 after its
// resize; Gemini 258 per tile. 3,800 covers all of these; gpt-4o-mini bills 2,833 + 5,667 per tile
// (up to 48,169) and gets its own figure. `detail: 'low'` is 85 on tile models (2,833 on gpt-4o-mini).
const IMAGE_TOKENS = 3800;
const LOW_DETAIL_IMAGE = 85;
const MINI_IMAGE = { high: 48_169, low: 2833 };
const GPT_4O_MINI = /^(?:openai\/)?(?:gpt-4o-mini)/i;
// Audio parts: about 10 tokens per second of audio (gpt-4o audio); even 8 kbit/s audio takes over 1,300
// base64 characters per second, so one token per 16 characters is an 8x margin, plus a fixed 100.
const AUDIO_CHARS_PER_TOKEN = 16;
const AUDIO_BASE = 100;
// File parts (PDFs): text plus an image per page; unknown without parsing the file. Fixed 8,000 plus
// one token per character of inline data (a document's text rarely outweighs its compressed bytes).
const FILE_TOKENS = 8000;

interface Pricing {
  profile: TokenProfile;
  image: number;
  lowImage: number;
}

/**
 * Estimated prompt tokens of a chat request: every message's role, content, name, tool calls and
 * tool call id, plus OpenAI's chat-format overhead (4 per message + 3). An upper bound of the real
 * count for OpenAI models (see estimateTextTokens), with the conservative margin for other models.
 * Cheap enough for the hot path.
 *
 * Content parts: `text` parts are estimated as text; image parts cost `imageTokens` (85 with
 * `detail: 'low'`); audio parts 100 plus one token per 16 characters of data; file parts 8,000 plus one
 * per character of inline data; any other part the estimate of its JSON.
 *
 * @example
 * ```ts
 * estimateTokens([
 *   { role: 'system', content: 'You are terse.' },
 *   { role: 'user', content: 'Name three prime numbers.' },
 * ], { model: 'gpt-4o' }); // 28 (BPE: 20)
 * ```
 */
export function estimateTokens(messages: ChatMessage[], options: EstimateTokensOptions = {}): number {
  if (!Array.isArray(messages)) throw new ValidationError('messages', messages, 'must be an array of chat messages');
  const pricing = resolvePricing(options);
  let total = PER_REPLY;
  for (let m = 0; m < messages.length; m++) {
    const message = messages[m];
    if (typeof message !== 'object' || message === null) {
      throw new ValidationError(`messages[${m}]`, message, 'must be a chat message object');
    }
    total += PER_MESSAGE + roleTokens(message.role, pricing.profile);
    total += contentTokens(message.content, m, pricing);
    if (message.name) total += PER_NAME + estimateTextTokens(String(message.name), pricing.profile);
    if (message.tool_call_id) total += estimateTextTokens(String(message.tool_call_id), pricing.profile);
    const calls = message.tool_calls;
    if (calls !== undefined && calls !== null) {
      if (!Array.isArray(calls)) {
        throw new ValidationError(`messages[${m}].tool_calls`, calls, 'must be an array');
      }
      for (const call of calls as unknown[]) total += toolCallTokens(call, pricing.profile);
    }
  }
  return total;
}

/**
 * Estimated tokens of the tool (function) definitions sent with a request: the estimate of their
 * JSON plus 9. OpenAI renders them more compactly (a TypeScript-like namespace), so this is above it.
 *
 * @example
 * ```ts
 * estimateToolsTokens([{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }]);
 * ```
 */
export function estimateToolsTokens(tools: readonly unknown[] | undefined, options: EstimateTokensOptions = {}): number {
  if (tools === undefined || tools.length === 0) return 0;
  if (!Array.isArray(tools)) throw new ValidationError('tools', tools, 'must be an array');
  return estimateTextTokens(JSON.stringify(tools), resolvePricing(options).profile) + PER_TOOLS;
}

function resolvePricing(options: EstimateTokensOptions): Pricing {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('options', options, 'must be an object');
  }
  const { model, profile, imageTokens } = options;
  if (model !== undefined && typeof model !== 'string') throw new ValidationError('model', model, 'must be a string');
  if (profile !== undefined && !isTokenProfile(profile)) {
    throw new ValidationError('profile', profile, "must be 'conservative' or 'o200k'");
  }
  if (imageTokens !== undefined && (!Number.isSafeInteger(imageTokens) || imageTokens < 0)) {
    throw new ValidationError('imageTokens', imageTokens, 'must be an integer >= 0');
  }
  const mini = model !== undefined && GPT_4O_MINI.test(model);
  const image = imageTokens ?? (mini ? MINI_IMAGE.high : IMAGE_TOKENS);
  return {
    profile: profile ?? (model !== undefined ? tokenProfileForModel(model) : 'conservative'),
    image,
    lowImage: Math.min(image, mini ? MINI_IMAGE.low : LOW_DETAIL_IMAGE),
  };
}

function roleTokens(role: unknown, profile: TokenProfile): number {
  if (typeof role !== 'string') return 1;
  return ONE_TOKEN_ROLES.has(role) ? 1 : estimateTextTokens(role, profile);
}

function contentTokens(content: unknown, m: number, pricing: Pricing): number {
  if (content === null || content === undefined) return 0;
  if (typeof content === 'string') return estimateTextTokens(content, pricing.profile);
  if (!Array.isArray(content)) {
    throw new ValidationError(`messages[${m}].content`, content, 'must be a string, an array of parts, or null');
  }
  let total = 0;
  for (let p = 0; p < content.length; p++) {
    const part: unknown = content[p];
    if (typeof part !== 'object' || part === null) {
      throw new ValidationError(`messages[${m}].content[${p}]`, part, 'must be a content part object');
    }
    total += partTokens(part as Record<string, unknown>, pricing);
  }
  return total;
}

function partTokens(part: Record<string, unknown>, pricing: Pricing): number {
  const type = part.type;
  if (typeof part.text === 'string' && (type === 'text' || type === 'input_text')) {
    return estimateTextTokens(part.text, pricing.profile);
  }
  if (type === 'image_url' || type === 'image' || type === 'input_image') {
    return field(part.image_url, 'detail') === 'low' || part.detail === 'low' ? pricing.lowImage : pricing.image;
  }
  if (type === 'input_audio') return AUDIO_BASE + Math.ceil(stringLength(field(part.input_audio, 'data')) / AUDIO_CHARS_PER_TOKEN);
  if (type === 'file' || type === 'input_file') {
    return FILE_TOKENS + stringLength(field(part.file, 'file_data')) + stringLength(part.file_data);
  }
  return estimateTextTokens(JSON.stringify(part), pricing.profile);
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function stringLength(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}

function toolCallTokens(call: unknown, profile: TokenProfile): number {
  if (typeof call !== 'object' || call === null) return PER_TOOL_CALL;
  const record = call as Record<string, unknown>;
  let total = PER_TOOL_CALL;
  if (typeof record.id === 'string') total += estimateTextTokens(record.id, profile);
  const fn = record.function;
  if (typeof fn === 'object' && fn !== null) {
    const { name, arguments: args } = fn as Record<string, unknown>;
    if (typeof name === 'string') total += estimateTextTokens(name, profile);
    if (typeof args === 'string') total += estimateTextTokens(args, profile);
    else if (args !== undefined) total += estimateTextTokens(JSON.stringify(args) ?? '', profile);
  }
  return total;
}
