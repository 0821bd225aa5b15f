import type { ForwardEvent, TokenUsage } from '../core/types.js';

/** One answer of a mock call: the text (or JSON, or tool arguments), why it ended, what it costs. */
export interface MockChoice {
  /** Reply text; JSON for structured answers; the arguments for a tool call. */
  text: string;
  /** `length`: cut at the request's output cap. `tool`: a complete tool call. */
  finish: 'stop' | 'length' | 'tool';
  completionTokens: number;
  /** The tool called, when the request forced one (`finish` is then `tool`, or `length` when cut). */
  tool?: { name: string };
}

/** Everything the wire formats need to write one mock answer. */
export interface MockTurn {
  /** The backend's call number: makes the answer's ids unique. */
  number: number;
  model: string;
  /** Unix seconds. */
  created: number;
  choices: MockChoice[];
  promptTokens: number;
  /** The usage to report; `undefined` when the mock reports none (`reportUsage: false`). */
  usage?: TokenUsage;
}

/** Makes one SSE event: `data` is `payload` as JSON; `extra` adds what metering reads. */
export function sseEvent(payload: unknown, extra: Omit<ForwardEvent, 'data'> = {}): ForwardEvent {
  const out: ForwardEvent = { data: JSON.stringify(payload) };
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
  return out;
}

/** `usage` with `completionTokens` replaced by the running count `completion` (streams that report it as they go). */
export function usageSoFar(usage: TokenUsage, completion: number): TokenUsage {
  return { promptTokens: usage.promptTokens, completionTokens: completion, totalTokens: usage.promptTokens + completion };
}

/** An id of this call: `prefix` plus the call number and `suffix`, padded like the real ones are long. */
export function mockId(prefix: string, turn: MockTurn, suffix = ''): string {
  return `${prefix}mock${String(turn.number).padStart(8, '0')}${suffix}`;
}
