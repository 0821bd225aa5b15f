import { isPlainObject } from '../../core/objects.js';
import type { ChatMessage, ContentPart } from '../../core/types.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens, tokenProfileForModel } from '../../tokens/estimate.js';

/**
 * Prompt estimates of the wire APIs other than chat, made by mapping each API's prompt onto chat messages
 * (the estimator's shape): text as text, images as image parts, files and documents as file parts, tool
 * calls and their results as text. Over-counts like `estimateTokens` (it sizes reservations).
 */

const IMAGE_PART: ContentPart = { type: 'image_url' };

/**
 * A document or file as the estimator's file part, with its inline data (the estimator counts a token per
 * character of it): Anthropic's `source.data` (base64 or plain text) or `source.content`, the Responses
 * API's `file_data`. A file sent by id or URL has no data here: the estimator's fixed allowance.
 */
function filePart(item: Record<string, unknown>): ContentPart {
  const source = isPlainObject(item.source) ? item.source : undefined;
  let data: unknown = item.file_data ?? source?.data;
  if (data === undefined && source !== undefined && source.content !== undefined) data = JSON.stringify(source.content);
  return typeof data === 'string' ? { type: 'file', file: { file_data: data } } : { type: 'file' };
}

/** A content item of any API as a chat content part: text stays text; media keeps its kind. */
function part(item: unknown): ContentPart {
  if (typeof item === 'string') return { type: 'text', text: item };
  if (!isPlainObject(item)) return { type: 'text', text: JSON.stringify(item) ?? '' };
  const type = typeof item.type === 'string' ? item.type : '';
  if (type === 'image' || type === 'image_url' || type === 'input_image') return IMAGE_PART;
  if (type === 'document' || type === 'input_file') return filePart(item);
  if (type === 'file') return item as ContentPart;
  if (type === 'input_audio') return item as ContentPart;
  if (typeof item.text === 'string') return { type: 'text', text: item.text };
  if (typeof item.thinking === 'string') return { type: 'text', text: item.thinking };
  // tool_use / tool_result / function_call / function_call_output / anything else: its JSON as text
  return { type: 'text', text: JSON.stringify(item) };
}

function content(value: unknown): ChatMessage['content'] {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(part);
  if (value === undefined || value === null) return null;
  return [part(value)];
}

function message(role: string, value: unknown): ChatMessage {
  return { role: (role === 'system' || role === 'developer' || role === 'assistant' || role === 'tool' ? role : 'user'), content: content(value) };
}

function toolsOf(tools: unknown, model: string): number {
  return Array.isArray(tools) ? estimateToolsTokens(tools, { model }) : 0;
}

/** Responses API: `instructions`, `input` (a string, or message, function-call and output items), `tools`. */
export function responsesPromptTokens(body: Record<string, unknown>, model: string): number {
  const messages: ChatMessage[] = [];
  if (body.instructions !== undefined && body.instructions !== null) messages.push(message('system', body.instructions));
  const input = body.input;
  if (typeof input === 'string') messages.push(message('user', input));
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (isPlainObject(item) && typeof item.role === 'string') messages.push(message(item.role, item.content));
      else messages.push(message('user', [item]));
    }
  }
  return estimateTokens(messages, { model }) + toolsOf(body.tools, model);
}

/** Anthropic Messages (and count_tokens): `system`, `messages` (content blocks), `tools`. */
export function messagesPromptTokens(body: Record<string, unknown>, model: string): number {
  const messages: ChatMessage[] = [];
  if (body.system !== undefined && body.system !== null) messages.push(message('system', body.system));
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) messages.push(isPlainObject(m) ? message(typeof m.role === 'string' ? m.role : 'user', m.content) : message('user', [m]));
  }
  return estimateTokens(messages, { model }) + toolsOf(body.tools, model);
}

/** Legacy completions: `prompt` as a string, strings, token ids, or lists of token ids (`suffix` too). */
export function completionsPromptTokens(body: Record<string, unknown>, model: string): number {
  const profile = tokenProfileForModel(model);
  let total = 0;
  const add = (p: unknown): void => {
    if (typeof p === 'string') total += estimateTextTokens(p, profile);
    else if (typeof p === 'number') total += 1;
    else if (Array.isArray(p)) for (const q of p) add(q);
  };
  add(body.prompt);
  add(body.suffix);
  return total;
}
