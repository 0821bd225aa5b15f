/**
 * Anthropic `POST /v1/messages` body -> the router's wire-neutral request, for a model whose backend does
 * not speak the Messages API (an OpenAI-compatible backend, a library backend with only `complete()`).
 */
import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage } from '../../core/types.js';
import { textProblem } from '../../usage/event-fields.js';
import { bodyModel, fail } from '../body-fields.js';
import type { NeutralRequest } from './chat-to-neutral.js';
import { joinedText, readAnthropicMessage } from './messages-content.js';
import { Untranslatable, typeDetail } from './untranslatable.js';

/** A Messages body read for the neutral path. */
export interface MessagesTranslation {
  request: NeutralRequest;
  stream: boolean;
  /** `metadata.user_id` (the gateway meters by it, as by the chat API's `user`). */
  user?: string;
}

const MAX_MESSAGES = 100_000;
const MAX_USER_LENGTH = 256;
/**
 * Body fields the neutral request carries. `cache_control` (top-level automatic caching) is a hint for
 * Anthropic's prompt cache, which no other backend has: accepted and not carried, as on blocks.
 */
const TRANSLATED: ReadonlySet<string> = new Set([
  'model', 'messages', 'max_tokens', 'system', 'temperature', 'top_p', 'stop_sequences', 'stream', 'metadata', 'tools',
  'tool_choice', 'cache_control',
]);
/** Fields sent at the value that asks for nothing: honoured by leaving them out. */
const INERT: Readonly<Record<string, (v: unknown) => boolean>> = {
  thinking: (v) => isPlainObject(v) && v.type === 'disabled' && Object.keys(v).length === 1,
};
const TOOL_KEYS: ReadonlySet<string> = new Set(['type', 'name', 'description', 'input_schema', 'strict', 'cache_control']);
const TOOL_CHOICE_KEYS: ReadonlySet<string> = new Set(['type', 'name', 'disable_parallel_tool_use']);

/**
 * Reads an Anthropic Messages body for a backend that does not speak the Messages API: `system` becomes a
 * system message, blocks become chat content parts, `tool_use` / `tool_result` become `tool_calls` / tool
 * messages, custom tools become function tools, `stop_sequences` `stop`, `metadata.user_id` the user.
 * A malformed field is a 400 naming it (`param` set: the gateway renders it in Anthropic's error shape);
 * every present field the neutral path cannot carry (`thinking`, `top_k`, server tools, documents, ...) is
 * listed in ONE 400 (`code: 'unsupported_parameter'`, `param` the first).
 *
 * @param backend  the serving backend as named in messages ({@link backendLabel})
 * @example
 * ```ts
 * const { request, stream, user } = messagesBodyToRequest(JSON.parse(body), backendLabel(backend));
 * ```
 */
export function messagesBodyToRequest(body: unknown, backend: string): MessagesTranslation {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);
  const untranslatable = new Untranslatable();
  const model = bodyModel(body);
  untranslatable.addUnknownKeys(body, '', TRANSLATED, INERT); // listed first: the top-level fields lead the message

  const maxTokens = body.max_tokens;
  if (maxTokens === undefined || maxTokens === null) fail('max_tokens', 'is required', maxTokens);
  if (typeof maxTokens !== 'number' || !Number.isSafeInteger(maxTokens) || maxTokens < 1) fail('max_tokens', 'must be an integer >= 1', maxTokens);

  const rawMessages = body.messages;
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) fail('messages', 'must be a non-empty array', rawMessages);
  if (rawMessages.length > MAX_MESSAGES) fail('messages', `must have at most ${MAX_MESSAGES} entries`, rawMessages.length);
  const messages: ChatMessage[] = [];
  const system = systemText(body.system, untranslatable);
  if (system !== undefined) messages.push({ role: 'system', content: system });
  rawMessages.forEach((m, i) => readAnthropicMessage(m, i, messages, untranslatable));
  const last: unknown = rawMessages[rawMessages.length - 1];
  if (isPlainObject(last) && last.role === 'assistant') {
    // Anthropic continues a final assistant turn (a prefill); the chat API answers it with a new turn.
    untranslatable.add(`messages[${rawMessages.length - 1}]`, 'a final assistant turn, which Anthropic continues');
  }

  const out: MessagesTranslation = { request: { model, messages, maxTokens }, stream: false };
  readSampling(body, out);
  readTools(body, out.request, untranslatable);
  const user = metadataUser(body.metadata, untranslatable);
  if (user !== undefined) out.user = user;
  untranslatable.throwIfAny(backend, 'an Anthropic');
  return out;
}

/** `system`: a string or text blocks; `undefined` when absent or empty. */
function systemText(system: unknown, untranslatable: Untranslatable): string | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system === '' ? undefined : system;
  if (!Array.isArray(system)) fail('system', 'must be a string or an array of text blocks', system);
  const blocks = system.map((b, j) => {
    if (!isPlainObject(b) || typeof b.type !== 'string') fail(`system[${j}]`, 'must be an object with a string "type"', b);
    return b;
  });
  const text = joinedText(blocks, 'system', untranslatable);
  return text === '' ? undefined : text;
}

/** `temperature`, `top_p`, `stop_sequences`, `stream`. */
function readSampling(body: Record<string, unknown>, out: MessagesTranslation): void {
  const request = out.request;
  for (const field of ['temperature', 'top_p'] as const) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) fail(field, 'must be a number from 0 to 1', v);
    if (field === 'temperature') request.temperature = v;
    else request.topP = v;
  }
  const stop = body.stop_sequences;
  if (stop !== undefined && stop !== null) {
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string')) fail('stop_sequences', 'must be an array of strings', stop);
    if (stop.length > 0) request.stop = stop as string[];
  }
  if (body.stream !== undefined && body.stream !== null) {
    if (typeof body.stream !== 'boolean') fail('stream', 'must be a boolean', body.stream);
    out.stream = body.stream;
  }
}

/** Custom tools as OpenAI function tools; `tool_choice` as OpenAI's words. */
function readTools(body: Record<string, unknown>, out: NeutralRequest, untranslatable: Untranslatable): void {
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) fail('tools', 'must be an array', tools);
    out.tools = tools.flatMap((tool, i) => {
      const at = `tools[${i}]`;
      if (!isPlainObject(tool)) fail(at, 'must be an object', tool);
      if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
        untranslatable.add(at, typeDetail(tool)); // a server tool (web search, bash, ...): run by Anthropic only
        return [];
      }
      return [functionTool(tool, at, untranslatable)];
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return;
  if (!isPlainObject(choice)) fail('tool_choice', 'must be an object with a "type"', choice);
  untranslatable.addUnknownKeys(choice, 'tool_choice', TOOL_CHOICE_KEYS);
  if (choice.disable_parallel_tool_use !== undefined && choice.disable_parallel_tool_use !== null) {
    if (typeof choice.disable_parallel_tool_use !== 'boolean') fail('tool_choice.disable_parallel_tool_use', 'must be a boolean', choice.disable_parallel_tool_use);
    if (choice.disable_parallel_tool_use) untranslatable.add('tool_choice.disable_parallel_tool_use');
  }
  if (choice.type === 'auto' || choice.type === 'none') out.toolChoice = choice.type;
  else if (choice.type === 'any') out.toolChoice = 'required';
  else if (choice.type === 'tool') {
    if (typeof choice.name !== 'string' || choice.name === '') fail('tool_choice.name', 'must be a non-empty string', choice.name);
    out.toolChoice = { type: 'function', function: { name: choice.name } };
  } else fail('tool_choice.type', 'must be one of auto, any, tool, none', choice.type);
}

function functionTool(tool: Record<string, unknown>, at: string, untranslatable: Untranslatable): unknown {
  if (typeof tool.name !== 'string' || tool.name === '') fail(`${at}.name`, 'must be a non-empty string', tool.name);
  if (!isPlainObject(tool.input_schema)) fail(`${at}.input_schema`, 'must be a JSON Schema object', tool.input_schema);
  untranslatable.addUnknownKeys(tool, at, TOOL_KEYS);
  const fn: Record<string, unknown> = { name: tool.name, parameters: tool.input_schema };
  if (tool.description !== undefined && tool.description !== null) {
    if (typeof tool.description !== 'string') fail(`${at}.description`, 'must be a string', tool.description);
    fn.description = tool.description;
  }
  if (tool.strict !== undefined && tool.strict !== null) {
    if (typeof tool.strict !== 'boolean') fail(`${at}.strict`, 'must be a boolean', tool.strict);
    fn.strict = tool.strict;
  }
  return { type: 'function', function: fn };
}

/** `metadata.user_id`, checked like the chat API's `user`; other metadata keys are noted. */
function metadataUser(metadata: unknown, untranslatable: Untranslatable): string | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (!isPlainObject(metadata)) fail('metadata', 'must be an object', metadata);
  untranslatable.addUnknownKeys(metadata, 'metadata', new Set(['user_id']));
  const user = metadata.user_id;
  if (user === undefined || user === null || user === '') return undefined;
  if (typeof user !== 'string') fail('metadata.user_id', `must be a string of at most ${MAX_USER_LENGTH} characters`, user);
  const problem = textProblem(user, MAX_USER_LENGTH);
  if (problem) fail('metadata.user_id', problem, user);
  return user;
}
