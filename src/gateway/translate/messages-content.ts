/**
 * Anthropic Messages turns -> the router's OpenAI-shaped {@link ChatMessage}s: text and image blocks become
 * content parts, `tool_use` blocks assistant `tool_calls`, `tool_result` blocks `tool` messages.
 *
 * `cache_control` on any block is a prompt-caching hint for Anthropic's servers: it asks for nothing in the
 * answer, and a backend that is not Anthropic has no such cache, so it is accepted and not carried.
 */
import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage, ContentPart, ToolCall } from '../../core/types.js';
import { fail } from '../body-fields.js';
import { isEmpty, typeDetail, type Untranslatable } from './untranslatable.js';

type Block = Record<string, unknown>;

const ROLES: ReadonlySet<string> = new Set(['user', 'assistant', 'system']);
const TEXT_KEYS: ReadonlySet<string> = new Set(['type', 'text', 'cache_control']);
const IMAGE_KEYS: ReadonlySet<string> = new Set(['type', 'source', 'cache_control']);
const TOOL_USE_KEYS: ReadonlySet<string> = new Set(['type', 'id', 'name', 'input', 'cache_control']);
const TOOL_RESULT_KEYS: ReadonlySet<string> = new Set(['type', 'tool_use_id', 'content', 'is_error', 'cache_control']);
/** Citations sent back on earlier text: none is no citation. */
const TEXT_INERT = { citations: isEmpty };
/**
 * The chat API has no error flag on a tool result: the flag is carried as this prefix of the result's text,
 * which the model reads as it would read the flag.
 */
export const TOOL_ERROR_PREFIX = '[tool error] ';

/**
 * Appends the chat messages of Anthropic `messages[i]` to `out`. A user turn's `tool_result` blocks become
 * `tool` messages placed before the rest of the turn (the chat API wants tool answers right after the
 * assistant's calls; Anthropic wants them first in the turn, so the order holds). Malformed fields are a
 * 400 naming them; blocks the chat shape cannot carry (documents, thinking, server tools) are noted.
 *
 * @example
 * ```ts
 * const out: ChatMessage[] = [];
 * readAnthropicMessage({ role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'ls', input: {} }] }, 1, out, un);
 * // out: [{ role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'ls', arguments: '{}' } }] }]
 * ```
 */
export function readAnthropicMessage(m: unknown, i: number, out: ChatMessage[], untranslatable: Untranslatable): void {
  const at = `messages[${i}]`;
  if (!isPlainObject(m)) fail(at, 'must be an object with role and content', m);
  const role = m.role;
  if (typeof role !== 'string' || !ROLES.has(role)) fail(`${at}.role`, `must be one of ${[...ROLES].join(', ')}`, role);
  untranslatable.addUnknownKeys(m, at, new Set(['role', 'content']));
  const content = m.content;
  if (typeof content === 'string') {
    out.push({ role: role as ChatMessage['role'], content });
    return;
  }
  if (!Array.isArray(content) || content.length === 0) fail(`${at}.content`, 'must be a string or a non-empty array of content blocks', content);
  const blocks = content.map((b, j) => {
    if (!isPlainObject(b) || typeof b.type !== 'string') fail(`${at}.content[${j}]`, 'must be an object with a string "type"', b);
    return b;
  });
  if (role === 'assistant') out.push(assistantMessage(blocks, at, untranslatable));
  else if (role === 'system') out.push({ role: 'system', content: joinedText(blocks, `${at}.content`, untranslatable) });
  else out.push(...userMessages(blocks, at, untranslatable));
}

/**
 * The text of text-only blocks (the `system` field, a system turn, a tool result), joined by blank lines
 * as the Anthropic backend splits them; any other block is noted.
 */
export function joinedText(blocks: readonly Block[], at: string, untranslatable: Untranslatable): string {
  const texts: string[] = [];
  blocks.forEach((block, j) => {
    const text = textOf(block, `${at}[${j}]`, untranslatable);
    if (text !== undefined) texts.push(text);
    else untranslatable.add(`${at}[${j}]`, typeDetail(block));
  });
  return texts.join('\n\n');
}

/** A text block's text (checked, its other keys noted); `undefined` when the block is not text. */
function textOf(block: Block, at: string, untranslatable: Untranslatable): string | undefined {
  if (block.type !== 'text') return undefined;
  if (typeof block.text !== 'string') fail(`${at}.text`, 'must be a string', block.text);
  untranslatable.addUnknownKeys(block, at, TEXT_KEYS, TEXT_INERT);
  return block.text;
}

function assistantMessage(blocks: readonly Block[], at: string, untranslatable: Untranslatable): ChatMessage {
  const texts: string[] = [];
  const calls: ToolCall[] = [];
  blocks.forEach((block, j) => {
    const where = `${at}.content[${j}]`;
    const text = textOf(block, where, untranslatable);
    if (text !== undefined) texts.push(text);
    else if (block.type === 'tool_use') calls.push(toolCall(block, where, untranslatable));
    else untranslatable.add(where, typeDetail(block));
  });
  // One answer's text, split into blocks only around its tool calls: joined as it was generated.
  const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

function toolCall(block: Block, at: string, untranslatable: Untranslatable): ToolCall {
  if (typeof block.id !== 'string' || block.id === '') fail(`${at}.id`, 'must be a non-empty string', block.id);
  if (typeof block.name !== 'string' || block.name === '') fail(`${at}.name`, 'must be a non-empty string', block.name);
  if (block.input !== undefined && !isPlainObject(block.input)) fail(`${at}.input`, 'must be an object', block.input);
  untranslatable.addUnknownKeys(block, at, TOOL_USE_KEYS);
  return { id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } };
}

/** A user turn: its tool results as `tool` messages, then the rest as one user message (when any is left). */
function userMessages(blocks: readonly Block[], at: string, untranslatable: Untranslatable): ChatMessage[] {
  const results: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  blocks.forEach((block, j) => {
    const where = `${at}.content[${j}]`;
    const text = textOf(block, where, untranslatable);
    if (text !== undefined) parts.push({ type: 'text', text });
    else if (block.type === 'image') parts.push(imagePart(block, where, untranslatable));
    else if (block.type === 'tool_result') results.push(toolMessage(block, where, untranslatable));
    else untranslatable.add(where, typeDetail(block));
  });
  return parts.length > 0 ? [...results, { role: 'user', content: parts }] : results;
}

/** An image block as an OpenAI `image_url` part: base64 data as a data URL, a URL as it is. */
function imagePart(block: Block, at: string, untranslatable: Untranslatable): ContentPart {
  untranslatable.addUnknownKeys(block, at, IMAGE_KEYS);
  const source = block.source;
  if (!isPlainObject(source) || typeof source.type !== 'string') fail(`${at}.source`, 'must be an object with a string "type"', source);
  let url = '';
  if (source.type === 'base64') {
    if (typeof source.media_type !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(source.media_type)) {
      fail(`${at}.source.media_type`, 'must be a media type such as "image/png"', source.media_type);
    }
    if (typeof source.data !== 'string') fail(`${at}.source.data`, 'must be a base64 string', source.data);
    url = `data:${source.media_type};base64,${source.data}`;
    untranslatable.addUnknownKeys(source, `${at}.source`, new Set(['type', 'media_type', 'data']));
  } else if (source.type === 'url') {
    if (typeof source.url !== 'string' || source.url === '') fail(`${at}.source.url`, 'must be a non-empty string', source.url);
    url = source.url;
    untranslatable.addUnknownKeys(source, `${at}.source`, new Set(['type', 'url']));
  } else {
    untranslatable.add(`${at}.source`, typeDetail(source)); // a Files API id: no meaning to another provider
  }
  return { type: 'image_url', image_url: { url } };
}

/** A `tool_result` block as a `tool` message; text-only content, joined. */
function toolMessage(block: Block, at: string, untranslatable: Untranslatable): ChatMessage {
  if (typeof block.tool_use_id !== 'string' || block.tool_use_id === '') fail(`${at}.tool_use_id`, 'must be a non-empty string', block.tool_use_id);
  untranslatable.addUnknownKeys(block, at, TOOL_RESULT_KEYS);
  const raw = block.content;
  let text = '';
  if (typeof raw === 'string') text = raw;
  else if (Array.isArray(raw)) {
    const blocks = raw.map((b, k) => {
      if (!isPlainObject(b) || typeof b.type !== 'string') fail(`${at}.content[${k}]`, 'must be an object with a string "type"', b);
      return b;
    });
    text = joinedText(blocks, `${at}.content`, untranslatable);
  } else if (raw !== undefined && raw !== null) {
    fail(`${at}.content`, 'must be a string or an array of content blocks', raw);
  }
  if (block.is_error !== undefined && block.is_error !== null && typeof block.is_error !== 'boolean') {
    fail(`${at}.is_error`, 'must be a boolean', block.is_error);
  }
  return { role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error === true ? `${TOOL_ERROR_PREFIX}${text}` : text };
}
