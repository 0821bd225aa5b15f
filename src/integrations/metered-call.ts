import type { CallSubject, PolicyGuard, PolicyReservation } from '../budget/policy-types.js';
import type { BudgetLedger, Reservation } from '../budget/types.js';
import type { Metadata } from '../core/types.js';
import { estimateTextTokens, tokenProfileForModel } from '../tokens/estimate.js';
import { startGenAiSpan, type GenAiCallHandle } from '../telemetry/genai-call.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { UsageEvent } from '../usage/types.js';

/** Usage of one call as the tracker takes it (cache and reasoning counts are parts of the two totals). */
export interface MeteredUsage {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

/** What {@link MeteredCall.start} takes. */
export interface MeteredCallInput {
  /** The thread budgets; the thread is reserved only with both `ledger` and `subject.thread`. */
  ledger?: BudgetLedger | undefined;
  policies?: PolicyGuard | undefined;
  /** Who the call is for: policies match it; the usage event carries it (thread, agent, user, org, key). */
  subject: CallSubject;
  tracker: UsageTracker;
  /** The upper bound reserved: the prompt estimate and the output cap. */
  estimate: { promptTokens: number; completionTokens: number };
  /** Extra metadata of the usage event (`user_id`, `org_id`, `key_name` are filled in from the subject). */
  metadata?: Metadata | undefined;
  /** The provider word for the call's OpenTelemetry span (`openai`, `anthropic`, ...), when known up front. */
  provider?: string | undefined;
}

/** Who answered, for the usage event. */
export interface AnsweredBy {
  /** The model that answered (default: the subject's model). */
  model?: string | undefined;
  provider: string;
}

/**
 * The budget side of one call made outside the router (the AI SDK middleware, the LangChain handler),
 * with the router's rules: reserve the thread's tokens and the policies' estimate, both or neither; then
 * exactly one of {@link settle} (record the usage event, then charge the thread and the policies to it)
 * or {@link release}. Both are once-only, so an integration may call them from every exit path.
 *
 * @example
 * ```ts
 * const call = await MeteredCall.start({ ledger, tracker, subject: { model: 'gpt-4o', thread: 't1' },
 *   estimate: { promptTokens: 120, completionTokens: 1024 } });
 * try {
 *   const answer = await provider(...);
 *   await call.settle({ promptTokens: 118, completionTokens: 40 }, { provider: 'openai' });
 * } finally {
 *   await call.release(); // no-op once settled
 * }
 * ```
 */
export class MeteredCall {
  private done = false;
  private readonly startedAt = performance.now();

  private constructor(
    private readonly input: MeteredCallInput,
    private readonly thread: Reservation | undefined,
    private readonly policyHold: PolicyReservation | undefined,
    /** The call's GenAI span (inert without an OpenTelemetry SDK), ended by settle or release. */
    private readonly span: GenAiCallHandle,
  ) {}

  /**
   * Reserves the call, or throws the refusal (`BudgetExhaustedError`, `PolicyExhaustedError`,
   * `RateLimitedError`, `UnpricedModelError`, a ledger's error) holding nothing.
   */
  static async start(input: MeteredCallInput): Promise<MeteredCall> {
    const { ledger, policies, subject, estimate } = input;
    const span = startGenAiSpan({
      operation: 'chat',
      requestModel: subject.model,
      ...(input.provider !== undefined ? { provider: input.provider } : {}),
      ...(subject.thread !== undefined ? { threadId: subject.thread } : {}),
      ...(subject.agent !== undefined ? { agentId: subject.agent } : {}),
      maxTokens: estimate.completionTokens,
    });
    const tokens = estimate.promptTokens + estimate.completionTokens;
    const [thread, policy] = await Promise.allSettled([
      (async () => (ledger && subject.thread !== undefined ? ledger.reserve(subject.thread, tokens) : undefined))(),
      (async () => (policies ? (await policies.reserve(subject, estimate))?.reservation : undefined))(),
    ]);
    if (thread.status === 'rejected' || policy.status === 'rejected') {
      // The hold that was granted must not pin its budget until it lapses.
      if (thread.status === 'fulfilled' && thread.value) await ledger!.release(thread.value).catch(() => undefined);
      if (policy.status === 'fulfilled' && policy.value) await policies!.release(policy.value).catch(() => undefined);
      const refusal: unknown = thread.status === 'rejected' ? thread.reason : (policy as PromiseRejectedResult).reason;
      span.failed(refusal);
      span.end();
      throw refusal;
    }
    return new MeteredCall(input, thread.value, policy.value, span);
  }

  /** The prompt estimate the call reserved. */
  get promptEstimate(): number {
    return this.input.estimate.promptTokens;
  }

  /** True once settled or released. */
  get ended(): boolean {
    return this.done;
  }

  /**
   * Usage of a call whose provider reported none: the prompt estimate plus the counted tokens of the
   * delivered text (unknown is not zero).
   */
  estimateDelivered(text: string): MeteredUsage {
    const completion = text === '' ? 0 : estimateTextTokens(text, tokenProfileForModel(this.input.subject.model));
    return { promptTokens: this.input.estimate.promptTokens, completionTokens: completion };
  }

  /**
   * Charges the call: records its usage event (tokens, cost, latency, metadata) through the tracker, then
   * settles the thread to the tokens and the policies to the event's cost and tokens. `undefined` when the
   * call was already settled or released. A ledger that fails to settle is reported to `onError` (the
   * event stands; the hold lapses after the ledger's TTL); a tracker that fails to record (a durable store
   * down) frees the holds and throws.
   */
  async settle(usage: MeteredUsage, by: AnsweredBy, onError?: (err: unknown) => void): Promise<UsageEvent | undefined> {
    if (this.done) return undefined;
    this.done = true;
    const { input, thread, policyHold } = this;
    let event: UsageEvent;
    try {
      event = this.record(usage, by);
    } catch (err) {
      this.span.failed(err);
      this.span.end();
      await this.freeHolds();
      throw err;
    }
    this.span.charged({
      usage: {
        inputTokens: usage.promptTokens,
        outputTokens: usage.completionTokens,
        ...(usage.cachedPromptTokens !== undefined ? { cacheReadInputTokens: usage.cachedPromptTokens } : {}),
        ...(usage.cacheWriteTokens !== undefined ? { cacheCreationInputTokens: usage.cacheWriteTokens } : {}),
        ...(usage.reasoningTokens !== undefined ? { reasoningOutputTokens: usage.reasoningTokens } : {}),
      },
      provider: by.provider,
      responseModel: event.model,
      ...(event.estimatedCost !== undefined ? { costUsd: event.estimatedCost } : {}),
    });
    this.span.end();
    const settles: Promise<unknown>[] = [];
    if (thread) {
      const amount = { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens };
      settles.push(input.ledger!.settle(thread, amount).catch(onError ?? (() => undefined)));
    }
    if (policyHold) {
      const amount = { nanos: event.costNanos ?? 0, tokens: event.totalTokens };
      settles.push(input.policies!.settle(policyHold, amount).catch(onError ?? (() => undefined)));
    }
    await Promise.all(settles);
    return event;
  }

  /**
   * Frees the holds of a call that is not charged (nothing was delivered). Once; failures are left to the
   * ledgers' TTLs. `failure`, the error the provider ended the call with, marks its span failed and
   * counts the call's request against rate limits (its policies are settled at zero).
   */
  async release(failure?: unknown): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (failure !== undefined) this.span.failed(failure);
    this.span.end();
    await this.freeHolds(failure !== undefined);
  }

  /**
   * Frees the holds. A call that failed at its provider (`attempted`) settles its policies at zero instead:
   * nothing spent, one request counted, so a rate limit also bounds failing calls (as the router does).
   */
  private async freeHolds(attempted = false): Promise<void> {
    const { input, thread, policyHold } = this;
    const policies = input.policies;
    await Promise.all([
      thread ? input.ledger!.release(thread).catch(() => undefined) : undefined,
      policyHold && policies
        ? (attempted ? policies.settle(policyHold, { nanos: 0, tokens: 0 }) : policies.release(policyHold)).catch(() => undefined)
        : undefined,
    ]);
  }

  private record(usage: MeteredUsage, by: AnsweredBy): UsageEvent {
    const { subject, estimate, tracker } = this.input;
    const reserved = estimate.promptTokens + estimate.completionTokens;
    const total = usage.promptTokens + usage.completionTokens;
    const latencyMs = Math.round((performance.now() - this.startedAt) * 1000) / 1000;
    return tracker.record({
      threadId: subject.thread ?? null,
      agentId: subject.agent ?? null,
      model: by.model ?? subject.model,
      pricedAs: subject.model,
      provider: by.provider || 'unknown',
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedPromptTokens: usage.cachedPromptTokens,
      cacheWriteTokens: usage.cacheWriteTokens,
      reasoningTokens: usage.reasoningTokens,
      latencyMs,
      metadata: this.metadata(),
      ...(total > reserved ? { overspendTokens: total - reserved } : {}),
    });
  }

  /** The event's metadata: the caller's, plus the subject's user, org and key as a policy restore reads them. */
  private metadata(): Metadata {
    const { subject, metadata } = this.input;
    const out: Metadata = { ...metadata };
    if (subject.user !== undefined) out.user_id = subject.user;
    if (subject.org !== undefined) out.org_id = subject.org;
    if (subject.key !== undefined) out.key_name = subject.key;
    return out;
  }
}
