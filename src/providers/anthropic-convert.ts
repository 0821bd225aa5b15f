/**
 * Conversions between tokenwarden's OpenAI-shaped requests and Anthropic's Messages API.
 */
import { ValidationError } from '../core/errors.js';
import type { BackendRequest, ChatMessage, ContentPart, TokenUsage } from '../core/types.js';
import { isPlainObject } from '../core/objects.js';

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

/**
 * Builds an Anthropic Messages request body: system/developer messages lifted into `system`,
 * tool results as `tool_result` blocks, assistant tool calls as `tool_use` blocks, consecutive
 * same-role messages merged, OpenAI tools and tool_choice converted, `max_tokens` defaulted.
 *
 * @example
 * ```ts
 * toAnthropicBody({ model: 'claude-sonnet-4', messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Hi' }] }, 4096)
 * // → { model, max_tokens: 4096, system: 'Be brief', messages: [{ role: 'user', content: 'Hi' }] }
 * ```
 */
export function toAnthropicBody(request: BackendRequest, defaultMaxTokens: number): Record<string, unknown> {
  const system: Block[] = [];
  const messages: AnthropicMessage[] = [];
  request.messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (message.role === 'system' || message.role === 'developer') {
      system.push(...textBlocks(message.content, at));
      return;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks = message.role === 'tool' ? [toolResult(message, at)] : messageBlocks(message, at);
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  });

  const body: Record<string, unknown> = {
    model: request.model,
    max_tokens: request.maxTokens ?? defaultMaxTokens,
    messages: messages.map((m) => ({ role: m.role, content: simplify(m.content) })),
  };
  if (system.length > 0) {
    body.system = system.every(isPlainText) ? system.map((b) => b.text).join('\n\n') : system;
  }
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined) body.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.tools !== undefined) body.tools = request.tools.map((tool, i) => toAnthropicTool(tool, `tools[${i}]`));
  if (request.toolChoice !== undefined) body.tool_choice = toAnthropicToolChoice(request.toolChoice);
  return body;
}

/** Maps Anthropic's stop_reason to OpenAI's finish_reason words. */
export function mapStopReason(reason: unknown): string | null {
  if (typeof reason !== 'string') return null;
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return reason;
  }
}

/** Anthropic usage counters as received so far (streams fill them in over several events). */
export interface AnthropicUsageCounters {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** Merges the counters found in an Anthropic `usage` object into `into`. */
export function readUsage(raw: unknown, into: AnthropicUsageCounters): void {
  if (!isPlainObject(raw)) return;
  // Numbers pass as sent (even negative or fractional): the router refuses implausible usage.
  if (typeof raw.input_tokens === 'number') into.input = raw.input_tokens;
  if (typeof raw.output_tokens === 'number') into.output = raw.output_tokens;
  if (typeof raw.cache_read_input_tokens === 'number') into.cacheRead = raw.cache_read_input_tokens;
  if (typeof raw.cache_creation_input_tokens === 'number') into.cacheWrite = raw.cache_creation_input_tokens;
}

/**
 * Counters → TokenUsage. Anthropic's `input_tokens` excludes cached tokens, so the prompt total is
 * input + cache read + cache write. `undefined` when input or output is unknown.
 */
export function toTokenUsage(c: AnthropicUsageCounters): TokenUsage | undefined {
  if (c.input === undefined || c.output === undefined) return undefined;
  const cacheRead = c.cacheRead ?? 0;
  const cacheWrite = c.cacheWrite ?? 0;
  const promptTokens = c.input + cacheRead + cacheWrite;
  const usage: TokenUsage = { promptTokens, completionTokens: c.output, totalTokens: promptTokens + c.output };
  if (c.cacheRead !== undefined) usage.cachedPromptTokens = cacheRead;
  if (c.cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  return usage;
}

function textBlocks(content: ChatMessage['content'], at: string): Block[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) throw new ValidationError(`${at}.content`, content, 'must be a string, an array of parts or null');
  return content.flatMap((part, j) => convertPart(part, `${at}.content[${j}]`));
}

function convertPart(part: ContentPart, at: string): Block[] {
  if (!isPlainObject(part) || typeof part.type !== 'string') throw new ValidationError(at, part, 'must be a content part with a "type"');
  if (part.type === 'text') {
    if (typeof part.text !== 'string') throw new ValidationError(`${at}.text`, part.text, 'must be a string');
    if (!part.text) return [];
    const block: Block = { type: 'text', text: part.text };
    if (part.cache_control !== undefined) block.cache_control = part.cache_control;
    return [block];
  }
  if (part.type === 'image_url') {
    const ref = part.image_url;
    const url = typeof ref === 'string' ? ref : isPlainObject(ref) && typeof ref.url === 'string' ? ref.url : undefined;
    if (!url) throw new ValidationError(`${at}.image_url`, ref, 'must carry a url');
    const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    const source = data ? { type: 'base64', media_type: data[1], data: data[2] } : { type: 'url', url };
    return [{ type: 'image', source }];
  }
  // Already an Anthropic block (image, document, tool_result, ...): pass it through.
  return [{ ...part }];
}

function messageBlocks(message: ChatMessage, at: string): Block[] {
  const blocks = textBlocks(message.content, at);
  if (message.role !== 'assistant' || !message.tool_calls) return blocks;
  message.tool_calls.forEach((call, j) => {
    const field = `${at}.tool_calls[${j}].function.arguments`;
    const raw = call?.function?.arguments;
    let input: unknown = {};
    if (typeof raw === 'string' && raw.trim() !== '') {
      try {
        input = JSON.parse(raw);
      } catch {
        throw new ValidationError(field, raw, 'must be a JSON object');
      }
    }
    if (!isPlainObject(input)) throw new ValidationError(field, raw, 'must be a JSON object');
    blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input });
  });
  return blocks;
}

function toolResult(message: ChatMessage, at: string): Block {
  if (typeof message.tool_call_id !== 'string' || !message.tool_call_id) {
    throw new ValidationError(`${at}.tool_call_id`, message.tool_call_id, 'is required on tool messages');
  }
  const content = typeof message.content === 'string' ? message.content : textBlocks(message.content, at);
  return { type: 'tool_result', tool_use_id: message.tool_call_id, content };
}

function isPlainText(block: Block): boolean {
  return block.type === 'text' && Object.keys(block).length === 2;
}

/** A lone plain text block is sent as a string, like most clients do. */
function simplify(blocks: Block[]): string | Block[] {
  const only = blocks[0];
  return blocks.length === 1 && only && isPlainText(only) ? (only.text as string) : blocks;
}

function toAnthropicTool(tool: unknown, at: string): unknown {
  if (!isPlainObject(tool)) throw new ValidationError(at, tool, 'must be a tool object');
  if (tool.type === 'function' && isPlainObject(tool.function)) {
    const fn = tool.function;
    if (typeof fn.name !== 'string' || !fn.name) throw new ValidationError(`${at}.function.name`, fn.name, 'must be a non-empty string');
    const out: Record<string, unknown> = {
      name: fn.name,
      input_schema: isPlainObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
    if (typeof fn.description === 'string') out.description = fn.description;
    return out;
  }
  return tool; // already Anthropic-shaped (or a server tool)
}

function toAnthropicToolChoice(choice: unknown): unknown {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'required') return { type: 'any' };
  if (choice === 'none') return { type: 'none' };
  if (isPlainObject(choice) && choice.type === 'function' && isPlainObject(choice.function)) {
    return { type: 'tool', name: choice.function.name };
  }
  return choice;
}
