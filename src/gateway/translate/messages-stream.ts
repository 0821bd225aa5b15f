/**
 * The router's stream -> Anthropic Messages SSE events, for a streamed `/v1/messages` call served by a
 * backend that does not speak the Messages API.
 */
import { isPlainObject } from '../../core/objects.js';
import type { TokenUsage } from '../../core/types.js';
import { anthropicUsage, newMessageId, newToolUseId, stopReason } from './neutral-to-messages.js';

/** What the translator reads of a router stream chunk (a `RouterStreamChunk` fits). */
export type NeutralStreamChunk =
  | { type: 'delta'; content: string; toolCalls?: unknown[] }
  | { type: 'finish'; finishReason: string | null }
  | { type: 'usage'; usage: TokenUsage };

/** Options of {@link MessagesStreamTranslator}. */
export interface MessagesStreamOptions {
  /** The model named in `message_start` (the requested one: the answer's is not known yet). */
  model: string;
  /** The message id (default: a new `msg_...`). */
  id?: string;
  /** `input_tokens` of `message_start`, e.g. the prompt estimate; the real count follows in `message_delta`. Default 0. */
  inputTokens?: number;
}

/** One tool call of the stream: its block opens once its name is known. */
interface ToolState {
  id?: string;
  name?: string;
  /** Argument pieces received before the block could open. */
  pending: string;
  block?: number;
}

/** One SSE event in Anthropic's framing. */
function sse(event: string, data: Record<string, unknown>): string {
  return `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;
}

/**
 * Turns router stream chunks into the SSE text of an Anthropic Messages stream: `message_start`, then per
 * content block `content_block_start` / `content_block_delta` (`text_delta` or `input_json_delta`) /
 * `content_block_stop` — text in a text block, each tool call (by its OpenAI `index`) in a `tool_use` block —
 * then `message_delta` (stop reason, usage) and `message_stop`. One block is open at a time, as Anthropic
 * streams them; OpenAI-compatible servers send each tool call's pieces together, so a block is not reopened
 * (a late piece of a closed tool call is still sent, at that block's index, where clients append it).
 *
 * Each method returns the text to write ('' when nothing); the router's `usage` chunk (its last) ends the
 * message, and {@link end} ends it when the stream stops without one. Nothing is written after the end.
 *
 * @example
 * ```ts
 * const sse = new MessagesStreamTranslator({ model: request.model });
 * res.write(sse.start());
 * for await (const chunk of router.stream(request)) res.write(sse.push(chunk));
 * res.end(sse.end());
 * ```
 */
export class MessagesStreamTranslator {
  private readonly id: string;
  private started = false;
  private done = false;
  private blocks = 0;
  /** The open block: its index, and the tool call it holds (undefined: text). */
  private open: { index: number; tool?: number } | undefined;
  private readonly tools = new Map<number, ToolState>();
  private lastTool: number | undefined;
  private finishReason: string | null | undefined;
  private finished = false;
  private usage: TokenUsage | undefined;

  constructor(private readonly options: MessagesStreamOptions) {
    this.id = options.id ?? newMessageId();
  }

  /** True once `message_stop` was returned. */
  get ended(): boolean {
    return this.done;
  }

  /** `message_start` ('' once sent): may be written before the first chunk, as Anthropic does. */
  start(): string {
    if (this.started) return '';
    this.started = true;
    const usage = { input_tokens: this.options.inputTokens ?? 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const message = {
      id: this.id, type: 'message', role: 'assistant', model: this.options.model, content: [],
      stop_reason: null, stop_sequence: null, usage,
    };
    return sse('message_start', { message });
  }

  /** The events of one router chunk. */
  push(chunk: NeutralStreamChunk): string {
    if (this.done) return '';
    let out = this.start();
    if (chunk.type === 'delta') {
      if (chunk.content) out += this.text(chunk.content);
      for (const call of chunk.toolCalls ?? []) out += this.toolPiece(call);
    } else if (chunk.type === 'finish') {
      this.finishReason = chunk.finishReason;
      this.finished = true;
      out += this.closeAll();
    } else {
      this.usage = chunk.usage;
      if (this.finished) out += this.end();
    }
    return out;
  }

  /** Closes what is open and ends the message (`message_delta`, `message_stop`); '' when already ended. */
  end(): string {
    if (this.done) return '';
    let out = this.start() + this.closeAll();
    this.done = true;
    const usage = this.usage ? anthropicUsage(this.usage) : { output_tokens: 0 };
    const delta = { stop_reason: stopReason(this.finishReason, this.tools.size > 0), stop_sequence: null };
    out += sse('message_delta', { delta, usage });
    return out + sse('message_stop', {});
  }

  private text(content: string): string {
    let out = '';
    if (!this.open || this.open.tool !== undefined) {
      out += this.close();
      this.open = { index: this.blocks++ };
      out += sse('content_block_start', { index: this.open.index, content_block: { type: 'text', text: '' } });
    }
    return out + sse('content_block_delta', { index: this.open.index, delta: { type: 'text_delta', text: content } });
  }

  /** One OpenAI tool-call delta: `{ index, id?, function: { name?, arguments? } }`. */
  private toolPiece(call: unknown): string {
    if (!isPlainObject(call)) return '';
    const fn = isPlainObject(call.function) ? call.function : {};
    const index = typeof call.index === 'number' ? call.index : typeof call.id === 'string' && call.id ? this.tools.size : (this.lastTool ?? 0);
    this.lastTool = index;
    let tool = this.tools.get(index);
    if (!tool) {
      tool = { pending: '' };
      this.tools.set(index, tool);
    }
    if (typeof call.id === 'string' && call.id && tool.id === undefined) tool.id = call.id;
    if (typeof fn.name === 'string' && fn.name && tool.name === undefined) tool.name = fn.name;
    const args = typeof fn.arguments === 'string' ? fn.arguments : '';
    if (tool.block === undefined) {
      tool.pending += args;
      return tool.name ? this.openTool(index, tool) : '';
    }
    return args ? this.argsDelta(tool.block, args) : '';
  }

  private openTool(index: number, tool: ToolState): string {
    let out = this.close();
    tool.block = this.blocks++;
    this.open = { index: tool.block, tool: index };
    const block = { type: 'tool_use', id: tool.id ?? newToolUseId(), name: tool.name ?? '', input: {} };
    out += sse('content_block_start', { index: tool.block, content_block: block });
    if (tool.pending) out += this.argsDelta(tool.block, tool.pending);
    tool.pending = '';
    return out;
  }

  private argsDelta(index: number, partial: string): string {
    return sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: partial } });
  }

  private close(): string {
    if (!this.open) return '';
    const index = this.open.index;
    this.open = undefined;
    return sse('content_block_stop', { index });
  }

  /** Closes the open block, and opens and closes any tool call still waiting for its name. */
  private closeAll(): string {
    let out = this.close();
    for (const [index, tool] of [...this.tools].sort((a, b) => a[0] - b[0])) {
      if (tool.block === undefined) out += this.openTool(index, tool) + this.close();
    }
    return out;
  }
}
