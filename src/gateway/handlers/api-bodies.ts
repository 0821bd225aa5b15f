import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage, WireApi } from '../../core/types.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens, tokenProfileForModel } from '../../tokens/estimate.js';
import { bodyModel, bodyUser, fail } from '../body-fields.js';
import { completionsPromptTokens, messagesPromptTokens, responsesPromptTokens } from './prompt-estimate.js';

/**
 * What the gateway reads of a request body of a wire API: only what metering needs (the model, the prompt
 * for the estimate, the output cap, the number of choices, whether it streams). Everything else is the
 * upstream's to judge: the body goes on as it is.
 */
export interface ApiCall {
  api: WireApi;
  body: Record<string, unknown>;
  model: string;
  inputTokens: number;
  /** The output cap per choice, when the body sets one. */
  maxOutputTokens?: number;
  choices: number;
  stream: boolean;
  /** Chat and completions streams: the client asked for the usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean;
  /** OpenAI's `user` field (the usage event's user when no `x-user-id` header is sent). */
  user?: string;
  /** The prompt holds context the body does not show (`previous_response_id`, a stored prompt): no ceiling from the body. */
  hiddenContext: boolean;
}

const MAX_CHOICES = 128;

function optionalInteger(body: Record<string, unknown>, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(field, `must be an integer from ${min} to ${max}`, v);
  return v;
}

function streamFlag(body: Record<string, unknown>): boolean {
  const v = body.stream;
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') fail('stream', 'must be a boolean', v);
  return v;
}

function includeUsage(body: Record<string, unknown>): boolean {
  const so = body.stream_options;
  if (so === undefined || so === null) return false;
  if (!isPlainObject(so)) fail('stream_options', 'must be an object', so);
  const v = so.include_usage;
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') fail('stream_options.include_usage', 'must be a boolean', v);
  return v;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);
  return body;
}

/** The messages of a chat or Messages body: a non-empty array of objects with a string `role`. */
function messageList(body: Record<string, unknown>): Record<string, unknown>[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) fail('messages', 'must be a non-empty array', messages);
  messages.forEach((m, i) => {
    if (!isPlainObject(m) || typeof m.role !== 'string') fail(`messages[${i}]`, 'must be an object with a string "role"', m);
  });
  return messages as Record<string, unknown>[];
}

function toolList(body: Record<string, unknown>): unknown[] | undefined {
  const tools = body.tools;
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) fail('tools', 'must be an array', tools);
  return tools;
}

/**
 * The prompt estimate; a prompt nested so deeply that reading it overflows the stack (JSON.parse takes
 * what no recursive reader can) is the client's mistake, a 400 naming the field, not a 500.
 */
function estimated(field: string, estimate: () => number): number {
  try {
    return estimate();
  } catch (err) {
    if (err instanceof RangeError) fail(field, 'is nested too deeply to be read', []);
    throw err;
  }
}

function withCap(call: ApiCall, cap: number | undefined): ApiCall {
  if (cap !== undefined) call.maxOutputTokens = cap;
  return call;
}

/**
 * The prompt estimate of chat messages. Messages the estimator cannot read (content of a shape it does not
 * know) are the upstream's to judge, not a 400 here: then the estimate of their JSON, which is above it.
 */
function chatPromptTokens(messages: ChatMessage[], tools: unknown[] | undefined, model: string): number {
  let total: number;
  try {
    total = estimateTokens(messages, { model });
  } catch {
    total = estimateTextTokens(JSON.stringify(messages), tokenProfileForModel(model)) + 4 * messages.length;
  }
  return total + (tools ? estimateToolsTokens(tools, { model }) : 0);
}

/** Tool types a client runs itself; any other (web search, file search, MCP, code execution, ...) runs at the provider. */
const CLIENT_TOOLS: ReadonlySet<string> = new Set(['function', 'custom']);

/**
 * Whether the provider adds to the prompt what the body does not show: tools it runs itself (their
 * results are prompt tokens), MCP servers, containers. Then the prompt has no ceiling from the body.
 */
function providerTools(body: Record<string, unknown>, tools: unknown[] | undefined): boolean {
  if (body.mcp_servers != null || body.container != null || body.web_search_options != null) return true;
  return (tools ?? []).some((t) => isPlainObject(t) && typeof t.type === 'string' && !CLIENT_TOOLS.has(t.type));
}

/** `POST /v1/chat/completions`: `messages`, `max_completion_tokens` (else `max_tokens`), `n`, `stream`. */
export function readChat(raw: unknown): ApiCall {
  const body = objectBody(raw);
  const model = bodyModel(body);
  const messages = messageList(body) as unknown as ChatMessage[];
  const tools = toolList(body);
  const cap = optionalInteger(body, 'max_completion_tokens', 1) ?? optionalInteger(body, 'max_tokens', 1);
  const stream = streamFlag(body);
  const inputTokens = estimated('messages', () => chatPromptTokens(messages, tools, model));
  const usage = includeUsage(body);
  const call: ApiCall = { api: 'chat', body, model, inputTokens, choices: optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1, stream, includeUsage: stream && usage, hiddenContext: providerTools(body, tools) };
  const user = bodyUser(body);
  if (user !== undefined) call.user = user;
  return withCap(call, cap);
}

/** `POST /v1/responses`: `input`, `instructions`, `max_output_tokens`, `stream`. */
export function readResponses(raw: unknown): ApiCall {
  const body = objectBody(raw);
  const model = bodyModel(body);
  const input = body.input;
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) fail('input', 'must be a string or an array of input items', input);
  const tools = toolList(body);
  // A background response is generated after this call has answered, and its usage read by later calls
  // (GET /v1/responses/{id}) the gateway does not meter: it cannot be budgeted, so it is refused.
  if (body.background !== undefined && body.background !== null && body.background !== false) {
    fail('background', 'is not supported by the tokenwarden gateway: a background response cannot be budgeted or metered (send the call without it)', body.background);
  }
  const hiddenContext = body.previous_response_id != null || body.conversation != null || body.prompt != null || providerTools(body, tools);
  const call: ApiCall = { api: 'responses', body, model, inputTokens: estimated('input', () => responsesPromptTokens(body, model)), choices: 1, stream: streamFlag(body), includeUsage: false, hiddenContext };
  const user = bodyUser(body);
  if (user !== undefined) call.user = user;
  return withCap(call, optionalInteger(body, 'max_output_tokens', 1));
}

/** `POST /v1/completions` (legacy): `prompt`, `max_tokens`, `n` and `best_of` (per prompt), `stream`. */
export function readCompletions(raw: unknown): ApiCall {
  const body = objectBody(raw);
  const model = bodyModel(body);
  const prompt = body.prompt;
  const prompts = Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== 'number' ? prompt.length : 1;
  const n = optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1;
  const bestOf = optionalInteger(body, 'best_of', 1, MAX_CHOICES) ?? 1;
  const stream = streamFlag(body);
  const usage = includeUsage(body);
  const call: ApiCall = { api: 'completions', body, model, inputTokens: estimated('prompt', () => completionsPromptTokens(body, model)), choices: prompts * Math.max(n, bestOf), stream, includeUsage: stream && usage, hiddenContext: false };
  const user = bodyUser(body);
  if (user !== undefined) call.user = user;
  return withCap(call, optionalInteger(body, 'max_tokens', 1));
}

/** `POST /v1/messages` (Anthropic): `system`, `messages`, `tools`, `max_tokens`, `stream`; `count_tokens` the same without cap. */
export function readMessages(raw: unknown, api: 'messages' | 'count_tokens' = 'messages'): ApiCall {
  const body = objectBody(raw);
  const model = bodyModel(body);
  messageList(body);
  const tools = toolList(body);
  const stream = api === 'messages' && streamFlag(body);
  const call: ApiCall = { api, body, model, inputTokens: estimated('messages', () => messagesPromptTokens(body, model)), choices: 1, stream, includeUsage: false, hiddenContext: providerTools(body, tools) };
  return withCap(call, api === 'messages' ? optionalInteger(body, 'max_tokens', 1) : undefined);
}
