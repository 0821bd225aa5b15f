import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanOptions } from '@opentelemetry/api';
import { errorFacts } from './error-facts.js';
import { tokenwardenInstruments, tokenwardenTracer, tracingInstalled, type Instruments } from './instruments.js';
import { ERROR_TYPE, GEN_AI, genAiProviderName, HTTP_RESPONSE_STATUS_CODE, TW } from './semconv.js';

/** What is known of an LLM call when it starts. */
export interface GenAiCallStart {
  /** `gen_ai.operation.name`: `chat`, `text_completion`, `embeddings`, ... */
  operation: string;
  /** The model asked for (`gen_ai.request.model`). */
  requestModel: string;
  /** The provider word (`openai`, `anthropic`, `xai`, ...) as best known; mapped to the spec's value. */
  provider?: string;
  /** The thread (`gen_ai.conversation.id`). */
  threadId?: string;
  agentId?: string;
  /** The output cap asked for (`gen_ai.request.max_tokens`). */
  maxTokens?: number;
  stream?: boolean;
  /** The wire API of a forwarded call (`tokenwarden.api`). */
  api?: string;
  /** Epoch ms when the call started (default: now); for a call recorded after the fact. */
  startTime?: number;
  /** The parent context (default: the active one). */
  parent?: Context;
}

/** Token counts of a call; the cache and reasoning counts are subsets of input and output. */
export interface GenAiUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
  reasoningOutputTokens?: number;
}

/** What a call was charged, and by whom. */
export interface GenAiCallCharge {
  usage: GenAiUsage;
  /** The provider word of the backend that answered (overrides the start's). */
  provider?: string;
  /** The backend's configured name (`tokenwarden.backend`). */
  backend?: string;
  /** The model that answered (`gen_ai.response.model`). */
  responseModel?: string;
  responseId?: string;
  /** True when the provider reported no usage and the tokens were counted locally. */
  usageEstimated?: boolean;
  /** USD charged; absent for a model without a known price. */
  costUsd?: number;
  /** Tokens left in the thread's budget after the charge. */
  remainingTokens?: number;
  /** Names of the budget policies the call was charged to. */
  policies?: readonly string[];
}

/** One call's span and metrics, from its start to its end. Every method is safe to call in any order, more than once. */
export interface GenAiCallHandle {
  /** The call's span; undefined when no tracing SDK is installed. */
  readonly span: Span | undefined;
  /** Records the charge: usage, cost and budget attributes, the token-usage histogram and the cost counter. */
  charged(charge: GenAiCallCharge): void;
  /** `gen_ai.response.finish_reasons`. */
  finishReasons(reasons: readonly string[]): void;
  /** Marks the call failed: span status ERROR, `error.type`; a budget refusal also counts in `tokenwarden.budget.refusals`. */
  failed(err: unknown): void;
  /** Ends the span and records `gen_ai.client.operation.duration` (once). `endTime`: epoch ms, default now. */
  end(endTime?: number): void;
  /** Runs `fn` with the call's span active (so that spans started inside, an HTTP client's, are its children). */
  run<T>(fn: () => T): T;
}

/** The handle of a call with no SDK installed: every method does nothing. */
export const INERT_GENAI_CALL: GenAiCallHandle = Object.freeze({
  span: undefined,
  charged: () => undefined,
  finishReasons: () => undefined,
  failed: () => undefined,
  end: () => undefined,
  run: <T>(fn: () => T): T => fn(),
});

class GenAiCall implements GenAiCallHandle {
  readonly span: Span | undefined;
  private provider: string | undefined;
  private responseModel: string | undefined;
  private errorType: string | undefined;
  private readonly startedAt: number;
  private ended = false;
  /** The span records (an SDK is installed and sampled it in): only then are span attributes built. */
  private recording = false;

  constructor(
    private readonly start: GenAiCallStart,
    private readonly meters: Instruments,
    traced: boolean,
  ) {
    this.provider = start.provider === undefined ? undefined : genAiProviderName(start.provider);
    this.startedAt = start.startTime ?? performance.timeOrigin + performance.now();
    this.span = traced ? this.startSpan() : undefined;
  }

  private startSpan(): Span {
    const s = this.start;
    // The attributes a sampler may decide on go in at the start (the spec asks for them there); the rest
    // only once the span is known to record, so that a sampled-out call builds nothing more.
    const attributes: Attributes = { [GEN_AI.OPERATION_NAME]: s.operation, [GEN_AI.REQUEST_MODEL]: s.requestModel };
    if (this.provider !== undefined) attributes[GEN_AI.PROVIDER_NAME] = this.provider;
    const options: SpanOptions = { kind: SpanKind.CLIENT, attributes };
    if (s.startTime !== undefined) options.startTime = s.startTime;
    const span = tokenwardenTracer().startSpan(`${s.operation} ${s.requestModel}`, options, s.parent ?? context.active());
    if (!span.isRecording()) return span; // kept for its context (a sampled-out parent), given nothing more
    this.recording = true;
    const a: Attributes = {};
    if (s.threadId !== undefined) a[GEN_AI.CONVERSATION_ID] = s.threadId;
    if (s.agentId !== undefined) a[TW.AGENT_ID] = s.agentId;
    if (s.maxTokens !== undefined) a[GEN_AI.REQUEST_MAX_TOKENS] = s.maxTokens;
    if (s.stream) a[GEN_AI.REQUEST_STREAM] = true;
    if (s.api !== undefined) a[TW.API] = s.api;
    span.setAttributes(a);
    return span;
  }

  charged(c: GenAiCallCharge): void {
    if (c.provider !== undefined) this.provider = genAiProviderName(c.provider);
    if (c.responseModel !== undefined) this.responseModel = c.responseModel;
    const u = c.usage;
    if (this.recording) {
      const a: Attributes = { [GEN_AI.USAGE_INPUT_TOKENS]: u.inputTokens, [GEN_AI.USAGE_OUTPUT_TOKENS]: u.outputTokens };
      if (this.provider !== undefined) a[GEN_AI.PROVIDER_NAME] = this.provider;
      if (c.responseModel !== undefined) a[GEN_AI.RESPONSE_MODEL] = c.responseModel;
      if (c.responseId !== undefined) a[GEN_AI.RESPONSE_ID] = c.responseId;
      if (u.cacheReadInputTokens !== undefined) a[GEN_AI.USAGE_CACHE_READ_INPUT_TOKENS] = u.cacheReadInputTokens;
      if (u.cacheCreationInputTokens !== undefined) a[GEN_AI.USAGE_CACHE_CREATION_INPUT_TOKENS] = u.cacheCreationInputTokens;
      if (u.reasoningOutputTokens !== undefined) a[GEN_AI.USAGE_REASONING_OUTPUT_TOKENS] = u.reasoningOutputTokens;
      if (c.usageEstimated) a[TW.USAGE_ESTIMATED] = true;
      if (c.backend !== undefined) a[TW.BACKEND] = c.backend;
      if (c.costUsd !== undefined) a[TW.COST_USD] = c.costUsd;
      if (c.remainingTokens !== undefined) a[TW.BUDGET_REMAINING_TOKENS] = c.remainingTokens;
      if (c.policies !== undefined && c.policies.length > 0) a[TW.POLICY_NAMES] = [...c.policies];
      this.span!.setAttributes(a);
    }
    if (!this.meters.metering) return;
    const input = this.metricAttributes();
    input[GEN_AI.TOKEN_TYPE] = 'input';
    this.meters.tokenUsage.record(u.inputTokens, input);
    const output = this.metricAttributes();
    output[GEN_AI.TOKEN_TYPE] = 'output';
    this.meters.tokenUsage.record(u.outputTokens, output);
    if (c.costUsd !== undefined && c.costUsd > 0) this.meters.cost.add(c.costUsd, this.metricAttributes());
  }

  finishReasons(reasons: readonly string[]): void {
    if (this.recording) this.span!.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, [...reasons]);
  }

  failed(err: unknown): void {
    if (this.errorType !== undefined) return;
    const f = errorFacts(err);
    this.errorType = f.errorType;
    const span = this.span;
    if (span && this.recording) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      const a: Attributes = { [ERROR_TYPE]: f.errorType };
      if (f.remainingTokens !== undefined) a[TW.BUDGET_REMAINING_TOKENS] = f.remainingTokens;
      if (f.policy) {
        a[TW.POLICY_NAME] = f.policy.name;
        if (f.policy.scope !== undefined) a[TW.POLICY_SCOPE] = f.policy.scope;
        if (f.policy.limit !== undefined) a[TW.POLICY_LIMIT] = f.policy.limit;
      }
      if (f.httpStatus !== undefined) a[HTTP_RESPONSE_STATUS_CODE] = f.httpStatus;
      span.setAttributes(a);
      if (err instanceof Error) span.recordException(err);
    }
    if (f.refusal && this.meters.metering) {
      const a = this.metricAttributes();
      a[ERROR_TYPE] = f.errorType;
      if (f.policy) a[TW.POLICY_NAME] = f.policy.name;
      this.meters.refusals.add(1, a);
    }
  }

  end(endTime?: number): void {
    if (this.ended) return;
    this.ended = true;
    const end = endTime ?? performance.timeOrigin + performance.now();
    this.span?.end(endTime);
    if (!this.meters.metering) return;
    const a = this.metricAttributes();
    if (this.errorType !== undefined) a[ERROR_TYPE] = this.errorType;
    this.meters.duration.record(Math.max(0, end - this.startedAt) / 1000, a);
  }

  run<T>(fn: () => T): T {
    return this.span ? context.with(trace.setSpan(context.active(), this.span), fn) : fn();
  }

  /** The attributes every GenAI client metric carries (low cardinality: no thread, agent or backend). */
  private metricAttributes(): Attributes {
    const a: Attributes = { [GEN_AI.OPERATION_NAME]: this.start.operation, [GEN_AI.REQUEST_MODEL]: this.start.requestModel };
    if (this.provider !== undefined) a[GEN_AI.PROVIDER_NAME] = this.provider;
    if (this.responseModel !== undefined) a[GEN_AI.RESPONSE_MODEL] = this.responseModel;
    return a;
  }
}

/**
 * Whether any telemetry is installed (a tracing or a metrics SDK). A hot path checks it before building the
 * facts of {@link startGenAiSpan}, so that a call without an SDK allocates nothing for telemetry.
 */
export function genAiTelemetryEnabled(): boolean {
  return tracingInstalled() || tokenwardenInstruments().metering;
}

/**
 * Starts the telemetry of one LLM call, following the OpenTelemetry GenAI semantic conventions: a CLIENT span
 * named `{operation} {model}` (a child of the active span), and at its charge and end the
 * `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` histograms and the `tokenwarden.cost`
 * counter; a refusal counts in `tokenwarden.budget.refusals`. Emitted through `@opentelemetry/api` only: with no
 * SDK installed it returns a shared inert handle (nothing allocated, nothing recorded).
 *
 * @example
 * ```ts
 * const call = startGenAiSpan({ operation: 'chat', requestModel: 'gpt-4o-mini', provider: 'openai', threadId });
 * try {
 *   const res = await call.run(() => client.chat(...));
 *   call.charged({ usage: { inputTokens: 12, outputTokens: 8 }, responseModel: res.model, costUsd: 0.0000066 });
 * } catch (err) {
 *   call.failed(err);
 *   throw err;
 * } finally {
 *   call.end();
 * }
 * ```
 */
export function startGenAiSpan(start: GenAiCallStart): GenAiCallHandle {
  const traced = tracingInstalled();
  const meters = tokenwardenInstruments();
  if (!traced && !meters.metering) return INERT_GENAI_CALL;
  return new GenAiCall(start, meters, traced);
}

/**
 * Records a finished LLM call at once (its span with the given start and end times, and its metrics): for
 * integrations that learn of a call only after it ended. Give `charge` for an answered call, `error` for a
 * failed or refused one (both for a call charged and then failed).
 *
 * @example
 * ```ts
 * recordGenAiCall(
 *   { operation: 'chat', requestModel: 'claude-sonnet-4-5', provider: 'anthropic', threadId: 't1', startTime: t0 },
 *   { charge: { usage: { inputTokens: 900, outputTokens: 120, cacheReadInputTokens: 800 } }, endTime: Date.now() },
 * );
 * ```
 */
export function recordGenAiCall(start: GenAiCallStart, outcome: { charge?: GenAiCallCharge; error?: unknown; finishReasons?: readonly string[]; endTime?: number }): void {
  const call = startGenAiSpan(start);
  if (outcome.charge) call.charged(outcome.charge);
  if (outcome.finishReasons) call.finishReasons(outcome.finishReasons);
  if (outcome.error !== undefined) call.failed(outcome.error);
  call.end(outcome.endTime);
}
