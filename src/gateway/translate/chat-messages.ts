/**
 * One chat-completions message, checked and read into the router's {@link ChatMessage}. The checks are
 * those the gateway always made (messages name the field: `messages[2].role: must be one of ...`); on top,
 * what the router's wire-neutral path cannot carry is noted for the one "cannot honour" 400.
 */
import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage } from '../../core/types.js';
import { fail } from '../body-fields.js';
import { isEmpty, typeDetail, type Untranslatable } from './untranslatable.js';

const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id']);
/** An earlier answer sent back as it came (`refusal: null, annotations: []`): nothing to carry. */
const MESSAGE_INERT = { annotations: isEmpty };
/** Content parts every backend's converter reads (the Anthropic one turns `image_url` into an image block). */
const PART_TYPES: ReadonlySet<string> = new Set(['text', 'image_url']);

/**
 * Checks message `i` and returns it in the router's shape; a malformed field is a 400 naming it, a field
 * the neutral path cannot carry is added to `untranslatable` (OpenAI's `audio`, an `input_audio` part, ...).
 *
 * @example
 * ```ts
 * const un = new Untranslatable();
 * parseChatMessage({ role: 'user', content: 'Hi' }, 0, un); // { role: 'user', content: 'Hi' }
 * ```
 */
export function parseChatMessage(m: unknown, i: number, untranslatable?: Untranslatable): ChatMessage {
  const at = `messages[${i}]`;
  if (!isPlainObject(m)) fail(at, 'must be an object with role and content', m);
  const role = m.role;
  if (typeof role !== 'string' || !ROLES.has(role)) fail(`${at}.role`, `must be one of ${[...ROLES].join(', ')}`, role);
  const content = m.content;
  if (content === undefined || content === null) {
    if (role !== 'assistant') fail(`${at}.content`, 'is required for this role', content);
  } else if (Array.isArray(content)) {
    content.forEach((part, j) => {
      if (!isPlainObject(part) || typeof part.type !== 'string') fail(`${at}.content[${j}]`, 'must be an object with a string "type"', part);
      if (part.type === 'text' && typeof part.text !== 'string') fail(`${at}.content[${j}].text`, 'must be a string', part.text);
      if (untranslatable) notePart(part, `${at}.content[${j}]`, untranslatable);
    });
  } else if (typeof content !== 'string') {
    fail(`${at}.content`, 'must be a string, an array of content parts, or null', content);
  }
  const msg: ChatMessage = { role: role as ChatMessage['role'], content: (content ?? null) as ChatMessage['content'] };
  if (m.name !== undefined && m.name !== null) {
    if (typeof m.name !== 'string') fail(`${at}.name`, 'must be a string', m.name);
    msg.name = m.name;
  }
  readToolFields(m, at, role, msg);
  untranslatable?.addUnknownKeys(m, at, MESSAGE_KEYS, MESSAGE_INERT);
  return msg;
}

/** `tool_calls` (assistant) and `tool_call_id` (required on tool messages). */
function readToolFields(m: Record<string, unknown>, at: string, role: string, msg: ChatMessage): void {
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    if (!Array.isArray(m.tool_calls)) fail(`${at}.tool_calls`, 'must be an array', m.tool_calls);
    m.tool_calls.forEach((tc, j) => {
      const f = isPlainObject(tc) ? tc.function : undefined;
      if (!isPlainObject(tc) || typeof tc.id !== 'string' || !isPlainObject(f) || typeof f.name !== 'string' || typeof f.arguments !== 'string') {
        fail(`${at}.tool_calls[${j}]`, 'must be { id, type: "function", function: { name, arguments } } with string fields', tc);
      }
    });
    msg.tool_calls = m.tool_calls as ChatMessage['tool_calls'];
  }
  if (m.tool_call_id !== undefined && m.tool_call_id !== null) {
    if (typeof m.tool_call_id !== 'string') fail(`${at}.tool_call_id`, 'must be a string', m.tool_call_id);
    msg.tool_call_id = m.tool_call_id;
  } else if (role === 'tool') {
    fail(`${at}.tool_call_id`, 'is required for a tool message', m.tool_call_id);
  }
}

/** Parts other than text and images (audio, files, refusals) have no counterpart on the neutral path. */
function notePart(part: Record<string, unknown>, at: string, untranslatable: Untranslatable): void {
  if (!PART_TYPES.has(part.type as string)) {
    untranslatable.add(at, typeDetail(part));
    return;
  }
  // The image's resolution hint: "auto" is what every backend does anyway; another value would be lost.
  const image = part.image_url;
  if (part.type === 'image_url' && isPlainObject(image) && image.detail !== undefined && image.detail !== null && image.detail !== 'auto') {
    untranslatable.add(`${at}.image_url.detail`);
  }
}
