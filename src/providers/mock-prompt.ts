import { estimateTextTokens, estimateTokens, estimateToolsTokens, tokenProfileForModel } from '../tokens/estimate.js';
import type { ChatMessage, ContentPart, WireApi } from '../core/types.js';

/** What the mock answers with: text, a JSON object (of a schema, when one is given), or a call of one tool. */
export type MockOutput = { kind: 'text' } | { kind: 'json'; schema: unknown } | { kind: 'tool'; name: string; schema: unknown };

/** A wire request as the mock reads it: the prompt as chat messages, the caps, the choices and the output asked for. */
export interface MockPrompt {
  /** The prompt as chat messages: what the reply is derived from. */
  messages: ChatMessage[];
  tools?: unknown[];
  /** Prompt tokens, from the estimators (chat framing for chat-like APIs, plain text for `completions`). */
  promptTokens: number;
  /** The output cap of the request, when it set one. */
  cap?: number;
  /** Choices to answer (chat and completions `n`; legacy completions times the number of prompts). */
  n: number;
  output: MockOutput;
}

type Body = Record<string, unknown>;

const isObject = (value: unknown): value is Body => typeof value === 'object' && value !== null && !Array.isArray(value);
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Reads a wire request body the way the mock answers it. `count_tokens` reads like `messages`;
 * `embeddings` is not read here (see mock-embeddings.ts).
 */
export function readPrompt(api: WireApi, body: Body, model: string): MockPrompt {
  switch (api) {
    case 'responses':
      return responsesPrompt(body, model);
    case 'completions':
      return completionsPrompt(body, model);
    case 'messages':
    case 'count_tokens':
      return messagesPrompt(body, model);
    default:
      return chatPrompt(body, model);
  }
}

function chatLike(messages: ChatMessage[], tools: unknown[] | undefined, model: string): number {
  return estimateTokens(messages, { model }) + estimateToolsTokens(tools, { model });
}

function toolsOf(value: unknown): unknown[] | undefined {
  return Array.isArray(value) && value.length > 0 ? value : undefined;
}

/** The tool a `tool_choice` forces, read by `named` (its name when it names one) over tools read by `entry`. */
function forcedTool(
  tools: unknown[] | undefined,
  choice: unknown,
  named: (choice: Body) => string | undefined,
  entry: (tool: Body) => { name: unknown; schema: unknown },
): MockOutput | undefined {
  const list = asArray(tools).filter(isObject).map(entry).filter((t): t is { name: string; schema: unknown } => typeof t.name === 'string');
  const wanted = isObject(choice) ? named(choice) : undefined;
  const any = choice === 'required' || (isObject(choice) && (choice.type === 'any' || choice.type === 'required'));
  const tool = wanted !== undefined ? (list.find((t) => t.name === wanted) ?? { name: wanted, schema: undefined }) : any ? list[0] : undefined;
  return tool ? { kind: 'tool', name: tool.name, schema: tool.schema } : undefined;
}

function jsonOutput(format: unknown, schemaOf: (format: Body) => unknown): MockOutput | undefined {
  if (!isObject(format)) return undefined;
  if (format.type === 'json_object') return { kind: 'json', schema: undefined };
  if (format.type === 'json_schema') return { kind: 'json', schema: schemaOf(format) };
  return undefined;
}

function chatPrompt(body: Body, model: string): MockPrompt {
  const messages = asArray(body.messages).filter(isObject) as unknown as ChatMessage[];
  const tools = toolsOf(body.tools);
  const output =
    forcedTool(tools, body.tool_choice, (c) => (isObject(c.function) && typeof c.function.name === 'string' ? c.function.name : undefined), (t) => ({
      name: isObject(t.function) ? t.function.name : undefined,
      schema: isObject(t.function) ? t.function.parameters : undefined,
    })) ?? jsonOutput(body.response_format, (f) => (isObject(f.json_schema) ? f.json_schema.schema : undefined));
  const n = count(body.n) ?? 1;
  return {
    messages,
    tools,
    promptTokens: chatLike(messages, tools, model),
    cap: count(body.max_completion_tokens) ?? count(body.max_tokens),
    n: Math.max(1, n),
    output: output ?? { kind: 'text' },
  };
}

function completionsPrompt(body: Body, model: string): MockPrompt {
  const profile = tokenProfileForModel(model);
  const raw = body.prompt;
  const prompts: unknown[] = Array.isArray(raw) && raw.length > 0 && typeof raw[0] !== 'number' ? raw : [raw ?? ''];
  let promptTokens = 0;
  for (const p of prompts) promptTokens += typeof p === 'string' ? estimateTextTokens(p, profile) : asArray(p).length;
  const text = prompts.map((p) => (typeof p === 'string' ? p : '')).join('\n');
  return {
    messages: [{ role: 'user', content: text }],
    promptTokens,
    cap: count(body.max_tokens),
    n: Math.max(1, count(body.n) ?? 1) * prompts.length,
    output: { kind: 'text' },
  };
}

function responsesPrompt(body: Body, model: string): MockPrompt {
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else for (const item of asArray(body.input).filter(isObject)) messages.push(responsesItem(item));
  const tools = toolsOf(body.tools);
  const text = isObject(body.text) ? body.text : {};
  const output =
    forcedTool(tools, body.tool_choice, (c) => (c.type === 'function' && typeof c.name === 'string' ? c.name : undefined), (t) => ({
      name: t.type === 'function' ? t.name : undefined,
      schema: t.parameters,
    })) ?? jsonOutput(text.format, (f) => f.schema);
  return {
    messages,
    tools,
    promptTokens: chatLike(messages, tools, model),
    cap: count(body.max_output_tokens),
    n: 1,
    output: output ?? { kind: 'text' },
  };
}

function responsesItem(item: Body): ChatMessage {
  if (item.type === 'function_call') {
    const call = { id: String(item.call_id ?? ''), type: 'function' as const, function: { name: String(item.name ?? ''), arguments: String(item.arguments ?? '') } };
    return { role: 'assistant', content: null, tool_calls: [call] };
  }
  if (item.type === 'function_call_output') {
    const output = typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? '');
    return { role: 'tool', content: output, tool_call_id: String(item.call_id ?? '') };
  }
  if (typeof item.role === 'string' && (item.type === undefined || item.type === 'message')) {
    return { role: item.role as ChatMessage['role'], content: partsOf(item.content) };
  }
  return { role: 'assistant', content: JSON.stringify(item) };
}

function partsOf(content: unknown): string | ContentPart[] {
  if (typeof content === 'string') return content;
  return asArray(content).filter(isObject) as ContentPart[];
}

function messagesPrompt(body: Body, model: string): MockPrompt {
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) messages.push({ role: 'system', content: partsOf(body.system) });
  for (const m of asArray(body.messages).filter(isObject)) {
    messages.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: partsOf(m.content) });
  }
  const tools = toolsOf(body.tools);
  const format = isObject(body.output_config) ? body.output_config.format : body.output_format;
  const output =
    forcedTool(tools, body.tool_choice, (c) => (c.type === 'tool' && typeof c.name === 'string' ? c.name : undefined), (t) => ({
      name: t.name,
      schema: t.input_schema,
    })) ?? jsonOutput(format, (f) => f.schema);
  return {
    messages,
    tools,
    promptTokens: chatLike(messages, tools, model),
    cap: count(body.max_tokens),
    n: 1,
    output: output ?? { kind: 'text' },
  };
}
