import { AbortScope, callAbortOf, withAttemptScope } from '../core/abort.js';
import { CallAbortedError, type ProviderError } from '../core/errors.js';
import type { Backend, BackendRequest, ChatMessage, CompletionRequest, TokenUsage } from '../core/types.js';
import { estimatedUsage } from './accounting.js';
import type { RouterCompletionRequest } from './call-hooks.js';
import { promptCeiling, type UsageLimits } from './plausibility.js';

/** What every call of one router shares: its estimate and its token and time limits. */
export interface CallSettings {
  estimatePrompt: (messages: ChatMessage[], request: CompletionRequest) => number;
  defaultCompletionReserve: number;
  completionCeiling: number;
  maxStreamDurationMs: number;
  now: () => number;
  /** The most prompt tokens an honest upstream could report, when known otherwise than from the messages (a forwarded body). */
  promptCeiling?: () => number;
}

/**
 * One call in progress: its request, the backends in the order it tries them, its failures so far, its
 * abort scope and deadline, and its token figures (computed once, when first needed).
 */
export class RouterCall {
  /** Index in `order` of the backend tried last (-1 before the first attempt). */
  cursor = -1;
  readonly failures: ProviderError[] = [];
  readonly tried = new Set<Backend>();
  /**
   * Caller's signal (or the call abort a caller attached) + the call's timeout; absent when the call has
   * neither, so such a call sets up no scope, listener or timer (AbortScope makes its controller lazily anyway).
   */
  readonly scope: AbortScope | undefined;
  /** Epoch ms (router clock) when the call's own timeout ends. */
  readonly deadline: number | undefined;
  /** The call's timeout: its own `timeoutMs`, or for a stream `maxStreamDurationMs` if shorter. */
  readonly timeoutMs: number | undefined;
  /** True when the call's timer is the router's stream duration cap (firing cuts the stream). */
  readonly durationCapped: boolean;
  /** `performance.now()` at the start. */
  readonly startedAt = performance.now();
  private prompt: number | undefined;
  private reserve: number | undefined;

  constructor(
    readonly req: RouterCompletionRequest,
    /** Streams time attempts by silence between chunks, not by total duration. */
    readonly streaming: boolean,
    readonly order: Backend[],
    private readonly settings: CallSettings,
  ) {
    const parent = req.signal ?? callAbortOf(req);
    // A stream's timer is also its total duration cap; the call's own timeout wins when shorter.
    this.durationCapped = streaming && (req.timeoutMs === undefined || req.timeoutMs > settings.maxStreamDurationMs);
    this.timeoutMs = this.durationCapped ? settings.maxStreamDurationMs : req.timeoutMs;
    this.scope = parent !== undefined || this.timeoutMs !== undefined ? new AbortScope(parent, this.timeoutMs) : undefined;
    this.deadline = req.timeoutMs === undefined ? undefined : settings.now() + req.timeoutMs;
  }

  /** The prompt estimate (0 when the estimator gave no usable number). */
  get promptEstimate(): number {
    if (this.prompt === undefined) {
      const n = this.settings.estimatePrompt(this.req.messages, this.req);
      this.prompt = typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
    }
    return this.prompt;
  }

  /** Completion tokens reserved: `maxTokens`, else the router's default reserve. */
  get completionReserve(): number {
    return this.req.maxTokens ?? this.settings.defaultCompletionReserve;
  }

  /** Prompt estimate + completion reserve: what a reservation and a rate window are charged. */
  get budgetTokens(): number {
    return (this.reserve ??= this.promptEstimate + this.completionReserve);
  }

  /** The most completion tokens the request may produce: its `maxTokens`, else the router's ceiling. */
  get completionLimit(): number {
    return this.req.maxTokens ?? this.settings.completionCeiling;
  }

  /** What an honest provider could report for this call. */
  usageLimits(): UsageLimits {
    const prompt = this.settings.promptCeiling ? this.settings.promptCeiling() : promptCeiling(this.req.messages, this.req.tools);
    return { promptTokens: prompt, completionTokens: this.completionLimit };
  }

  /** The prompt estimate plus the counted tokens of the delivered text, at most the completion limit. */
  estimateDelivered(text: string): TokenUsage {
    const usage = estimatedUsage(this.promptEstimate, text, this.req.model);
    const limit = this.completionLimit;
    if (usage.completionTokens <= limit) return usage;
    return { promptTokens: usage.promptTokens, completionTokens: limit, totalTokens: usage.promptTokens + limit };
  }

  /** The error of a call stopped by its caller's signal or its own timeout. */
  abortedError(): CallAbortedError {
    const model = JSON.stringify(this.req.model);
    return this.scope?.cause === 'timeout'
      ? new CallAbortedError('timeout', `Call to model ${model} timed out after ${this.timeoutMs} ms`)
      : new CallAbortedError('aborted', `Call to model ${model} was aborted by the caller`);
  }

  /** `; earlier failures: ...` for error messages, or nothing. */
  earlierFailures(): string {
    return this.failures.length ? `; earlier failures: ${this.failures.map((f) => f.message).join('; ')}` : '';
  }

  /**
   * The request one attempt sends. Its `signal` is made only when read: the built-in HTTP adapters listen
   * to the attempt scope itself.
   */
  backendRequest(attempt: AbortScope): BackendRequest {
    const req = this.req;
    const out: BackendRequest = withAttemptScope({ model: req.model, messages: req.messages }, attempt);
    if (req.maxTokens !== undefined) out.maxTokens = req.maxTokens;
    if (req.temperature !== undefined) out.temperature = req.temperature;
    if (req.topP !== undefined) out.topP = req.topP;
    if (req.stop !== undefined) out.stop = req.stop;
    if (req.tools !== undefined) out.tools = req.tools;
    if (req.toolChoice !== undefined) out.toolChoice = req.toolChoice;
    return out;
  }

  dispose(): void {
    this.scope?.dispose();
  }
}
