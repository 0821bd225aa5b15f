import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage, CompletionRequest } from '../../core/types.js';
import { bodyModel, bodyUser, fail } from './body-fields.js';

/** A validated `POST /v1/chat/completions` body, in the router's terms. */
export interface ChatRequestBody
  extends Pick<CompletionRequest, 'model' | 'messages' | 'maxTokens' | 'temperature' | 'topP' | 'stop' | 'tools' | 'toolChoice'> {
  stream: boolean;
  /** `stream_options.include_usage`: send a final chunk with usage. */
  includeUsage: boolean;
  /** OpenAI's `user` field. */
  user?: string;
}

const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const MAX_MESSAGES = 100_000;
/**
 * Validates a chat-completions request body. Every problem is a 400 naming the field
 * (`messages[2].role: must be one of … (got "bot")`). Fields the gateway does not use are ignored;
 * known fields of the wrong type are rejected; `n` other than 1 is refused (one choice per call).
 *
 * @example
 * ```ts
 * const req = parseChatRequest(JSON.parse(body)); // throws HttpError(400) on a bad field
 * ```
 */
export function parseChatRequest(body: unknown): ChatRequestBody {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);

  const model = bodyModel(body);

  const rawMessages = body.messages;
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) fail('messages', 'must be a non-empty array', rawMessages);
  if (rawMessages.length > MAX_MESSAGES) fail('messages', `must have at most ${MAX_MESSAGES} entries`, rawMessages.length);
  const messages = rawMessages.map((m, i) => parseMessage(m, i));

  const out: ChatRequestBody = { model, messages, stream: false, includeUsage: false };
  parseStreaming(body, out);
  parseSampling(body, out);
  parseTools(body, out);
  const user = bodyUser(body);
  if (user !== undefined) out.user = user;
  return out;
}

/** `stream` and `stream_options`. */
function parseStreaming(body: Record<string, unknown>, out: ChatRequestBody): void {
  if (body.stream !== undefined && body.stream !== null) {
    if (typeof body.stream !== 'boolean') fail('stream', 'must be a boolean', body.stream);
    out.stream = body.stream;
  }
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isPlainObject(so)) fail('stream_options', 'must be an object', so);
    if (so.include_usage !== undefined && so.include_usage !== null) {
      if (typeof so.include_usage !== 'boolean') fail('stream_options.include_usage', 'must be a boolean', so.include_usage);
      out.includeUsage = so.include_usage;
    }
  }
}

/** Token cap, `n`, `temperature`, `top_p` and `stop`. */
function parseSampling(body: Record<string, unknown>, out: ChatRequestBody): void {
  for (const field of ['max_completion_tokens', 'max_tokens'] as const) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(field, 'must be an integer >= 1', v);
    out.maxTokens ??= v;
  }

  if (body.n !== undefined && body.n !== null) {
    if (typeof body.n !== 'number' || !Number.isInteger(body.n)) fail('n', 'must be an integer', body.n);
    if (body.n !== 1) fail('n', 'only n=1 is supported by the tokenwarden gateway', body.n);
  }

  const temperature = body.temperature;
  if (temperature !== undefined && temperature !== null) {
    if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0 || temperature > 2) {
      fail('temperature', 'must be a number from 0 to 2', temperature);
    }
    out.temperature = temperature;
  }
  const topP = body.top_p;
  if (topP !== undefined && topP !== null) {
    if (typeof topP !== 'number' || !Number.isFinite(topP) || topP < 0 || topP > 1) fail('top_p', 'must be a number from 0 to 1', topP);
    out.topP = topP;
  }

  const stop = body.stop;
  if (stop !== undefined && stop !== null) {
    if (typeof stop === 'string') out.stop = stop;
    else if (Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === 'string')) out.stop = stop as string[];
    else fail('stop', 'must be a string or an array of at most 4 strings', stop);
  }
}

/** `tools` and `tool_choice`. */
function parseTools(body: Record<string, unknown>, out: ChatRequestBody): void {
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) fail('tools', 'must be an array', tools);
    tools.forEach((t, i) => {
      if (!isPlainObject(t) || typeof t.type !== 'string') fail(`tools[${i}]`, 'must be an object with a string "type"', t);
    });
    out.tools = tools;
  }
  const toolChoice = body.tool_choice;
  if (toolChoice !== undefined && toolChoice !== null) {
    if (typeof toolChoice !== 'string' && !isPlainObject(toolChoice)) fail('tool_choice', 'must be a string or an object', toolChoice);
    out.toolChoice = toolChoice;
  }
}

function parseMessage(m: unknown, i: number): ChatMessage {
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
    });
  } else if (typeof content !== 'string') {
    fail(`${at}.content`, 'must be a string, an array of content parts, or null', content);
  }
  const msg: ChatMessage = { role: role as ChatMessage['role'], content: (content ?? null) as ChatMessage['content'] };
  if (m.name !== undefined && m.name !== null) {
    if (typeof m.name !== 'string') fail(`${at}.name`, 'must be a string', m.name);
    msg.name = m.name;
  }
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
  return msg;
}
