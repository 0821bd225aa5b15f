import { ProviderError } from '../core/errors.js';
import type { Backend, ChatMessage, TokenUsage } from '../core/types.js';
import { MAX_ID_TEXT, textProblem } from '../usage/event-fields.js';
import { backendLabel } from './errors.js';

/**
 * What an honest provider could possibly report for one call. Anything beyond it is a provider error
 * (`IMPLAUSIBLE_USAGE`) charged at the reservation: a broken or hostile upstream can then never bill more
 * than the call reserved, nor overflow a cost (1e15 tokens at any price is beyond a safe integer).
 */
export interface UsageLimits {
  /** Most prompt tokens the request could be: see {@link promptCeiling}. */
  promptTokens: number;
  /** Most completion tokens: `maxTokens` (per choice) when the request set one, else the router's ceiling. */
  completionTokens: number;
}

/** Tokens allowed on top of the prompt's bytes for what providers add (system preambles, tool schemas). */
const PROMPT_BASE_ALLOWANCE = 4_096;
/** Per message: role, separators, name. */
const PER_MESSAGE_ALLOWANCE = 64;
/**
 * Per non-text part (image, audio, file): a file part can be a long PDF and an image URL carries no bytes
 * to count, so the allowance is the largest context window of any current model.
 */
const PER_MEDIA_PART_ALLOWANCE = 2_097_152;

/**
 * An upper bound of any tokenizer's count of the prompt: every token is at least one byte, so the UTF-8
 * bytes of the text (tool calls and tool definitions as JSON) plus allowances per message and per
 * non-text part. Far above the real count on purpose: it only tells honest usage from impossible usage.
 *
 * @example
 * ```ts
 * promptCeiling([{ role: 'user', content: 'Hi' }], undefined); // 4096 + 64 + 2
 * ```
 */
export function promptCeiling(messages: readonly ChatMessage[], tools: readonly unknown[] | undefined): number {
  let total = PROMPT_BASE_ALLOWANCE;
  for (const m of messages) {
    total += PER_MESSAGE_ALLOWANCE;
    if (typeof m.name === 'string') total += Buffer.byteLength(m.name);
    if (m.tool_calls !== undefined) total += jsonBytes(m.tool_calls);
    const content = m.content;
    if (typeof content === 'string') total += Buffer.byteLength(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (part && typeof part === 'object' && typeof part.text === 'string') total += Buffer.byteLength(part.text);
        else total += PER_MEDIA_PART_ALLOWANCE + jsonBytes(part);
      }
    }
  }
  if (tools !== undefined) total += jsonBytes(tools);
  return total;
}

/** `type` values of request parts that carry no text to count (images, audio, files, documents). */
const MEDIA_TYPES: ReadonlySet<string> = new Set([
  'image', 'image_url', 'input_image', 'audio', 'input_audio', 'file', 'input_file', 'document', 'video', 'video_url',
]);

/**
 * An upper bound of any tokenizer's count of the prompt of a request body of any wire API: one token per
 * UTF-8 byte of its JSON (`text`, the body's JSON text when the caller has it, else measured), plus the base allowance and the
 * media allowance per part whose `type` names an image, audio, file or document. Like {@link promptCeiling},
 * far above the real count: it only tells honest usage from impossible usage.
 */
export function bodyPromptCeiling(body: unknown, text?: string): number {
  const bytes = text === undefined ? jsonBytes(body) : Buffer.byteLength(text);
  // The body's text names no media type at all: no part to look for.
  const media = text !== undefined && !MEDIA_WORD.test(text) ? 0 : mediaParts(body, 0);
  return PROMPT_BASE_ALLOWANCE + bytes + PER_MEDIA_PART_ALLOWANCE * media;
}

const MEDIA_WORD = /image|audio|file|document|video/;

function mediaParts(value: unknown, depth: number): number {
  if (value === null || typeof value !== 'object' || depth > 64) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) n += mediaParts(item, depth + 1);
    return n;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.type === 'string' && MEDIA_TYPES.has(record.type)) n++;
  for (const key in record) {
    const v = record[key];
    if (v !== null && typeof v === 'object') n += mediaParts(v, depth + 1);
  }
  return n;
}

/**
 * The most tokens any tokenizer could count for an embeddings `input` (a string, strings, token ids or lists
 * of token ids): one per UTF-8 byte of text, the ids as given, plus allowances; `Infinity` for an input of
 * another shape (then nothing is refused).
 */
export function embeddingInputCeiling(input: unknown): number {
  const items = Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
  let total = PROMPT_BASE_ALLOWANCE;
  for (const item of items) {
    total += PER_MESSAGE_ALLOWANCE;
    if (typeof item === 'string') total += Buffer.byteLength(item);
    else if (Array.isArray(item)) total += item.length;
    else return Infinity;
  }
  return total;
}

/**
 * The usage a backend reported, checked against what the request could produce. Returns `undefined`
 * when it reported none (then the router estimates); throws a non-retryable `IMPLAUSIBLE_USAGE`
 * {@link ProviderError} for counts no upstream could honestly report: not a whole number from 0 to
 * 2^53 - 1, a completion above the request's maximum, a prompt above its ceiling, a cached or reasoning
 * count above the count it is part of.
 */
export function checkUsage(raw: unknown, limits: UsageLimits, backend: Backend): TokenUsage | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') throw implausible(backend, `usage is ${typeof raw}, not an object`);
  const u = raw as Record<string, unknown>;
  // A count left out is usage not reported (estimated), not usage misreported.
  if (u.promptTokens == null || u.completionTokens == null) return undefined;
  const prompt = count(backend, 'promptTokens', u.promptTokens);
  const completion = count(backend, 'completionTokens', u.completionTokens);
  if (completion > limits.completionTokens) {
    throw implausible(backend, `completionTokens ${completion} is above the most this request could produce (${limits.completionTokens})`);
  }
  if (prompt > limits.promptTokens) {
    throw implausible(backend, `promptTokens ${prompt} is above any possible count of this prompt (at most ${limits.promptTokens})`);
  }
  const usage: TokenUsage = { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion };
  for (const [key, whole] of [['cachedPromptTokens', prompt], ['cacheWriteTokens', prompt], ['reasoningTokens', completion]] as const) {
    if (u[key] == null) continue;
    const part = count(backend, key, u[key]);
    if (part > whole) throw implausible(backend, `${key} ${part} is above the count it is part of (${whole})`);
    usage[key] = part;
  }
  return usage;
}

/** The error for usage no upstream could honestly report. */
export function implausible(backend: Backend, problem: string): ProviderError {
  return new ProviderError({
    code: 'IMPLAUSIBLE_USAGE',
    provider: backend.provider,
    backend: backend.name,
    isRetryable: false,
    message: `${backendLabel(backend)} reported implausible usage: ${problem}; the call is charged its reservation`,
  });
}

/**
 * The model name a backend answered with, if it is fit for a usage event and a log line (the tracker's
 * rule for event text: 1-256 characters, no control characters, no lone surrogates); otherwise the
 * requested model.
 */
export function saneModel(answered: unknown, requested: string): string {
  return typeof answered === 'string' && textProblem(answered, MAX_ID_TEXT) === undefined ? answered : requested;
}

function count(backend: Backend, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    const shown = typeof value === 'number' ? String(value) : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
    throw implausible(backend, `${field} is ${shown}, not a whole number from 0 to 2^53 - 1`);
  }
  return value;
}

function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch {
    return PER_MEDIA_PART_ALLOWANCE; // a cycle cannot reach a provider; count it generously anyway
  }
}
