import { getBudgetRegistry, type ThreadBudgetRegistry } from '../budget/registry.js';
import { MemoryBudgetLedger } from '../budget/memory-ledger.js';
import type { BudgetLedger } from '../budget/types.js';
import type { Backend, EmbeddingBackendRequest, LLMResponse, StreamChunk, TokenUsage, WireApi } from '../core/types.js';
import { getUsageTracker, type UsageTracker } from '../usage/tracker.js';
import { deliveredText } from './accounting.js';
import { AttemptLoop } from './attempt-loop.js';
import { withAttemptScope } from '../core/abort.js';
import { splitBackendEntry, type BackendLimits } from './backend-limits.js';
import { BackendPool } from './backend-pool.js';
import type { PolicyGuard } from '../budget/policy-types.js';
import type { RouterCompletionRequest } from './call-hooks.js';
import { CallBill } from './call-bill.js';
import { RouterCall, type CallSettings } from './call.js';
import type { RouterCharge } from './charge.js';
import type { CooldownPolicy } from './cooldown.js';
import { embeddingInputCeiling, saneModel } from './plausibility.js';
import type { RetryPolicy } from './retry.js';
import { resolveRouterOptions, type LLMRouterOptions } from './router-options.js';
import { SettleRetries } from './settle-retries.js';
import { streamAttempt, StreamProgress } from './stream-attempt.js';
import type { RoutingStrategy } from './strategy.js';
import { validateRequest } from './validate-request.js';
import { validateEmbeddingRequest, type EmbeddingRequest, type RouterEmbedding } from './embedding-request.js';
import { forwardRequestOf, forwardStreamAttempt } from './forward-attempt.js';
import { validateForwardRequest, type CheckedForward, type ForwardCallRequest, type RouterForward, type RouterForwardChunk } from './forward-request.js';
import { bodyText } from './body-text.js';
import { startCallTelemetry } from './call-telemetry.js';
import type { GenAiCallHandle } from '../telemetry/genai-call.js';

export type { BackendEntry, BackendLimits } from './backend-limits.js';
export type { RouterBudgetInfo, RouterCharge } from './charge.js';
export type { LLMRouterOptions } from './router-options.js';
export type { RouterCallHooks, RouterCompletionRequest } from './call-hooks.js';
export type { EmbeddingRequest, RouterEmbedding } from './embedding-request.js';
export type { ForwardCallRequest, RouterForward, RouterForwardChunk, RouterForwardEnd } from './forward-request.js';

/** A call in progress: the call, its bill, and its telemetry (none without an OpenTelemetry SDK). */
interface CallParts {
  call: RouterCall;
  bill: CallBill;
  telemetry: GenAiCallHandle | undefined;
}

/** The answer of {@link LLMRouter.complete}. */
export interface RouterResponse extends LLMResponse, RouterCharge {
  usage: TokenUsage;
}

/** The last chunk of {@link LLMRouter.stream}: what was charged, and by whom. */
export interface RouterUsageChunk extends RouterCharge {
  type: 'usage';
}

/** A chunk of {@link LLMRouter.stream}: deltas, then `finish`, then one {@link RouterUsageChunk}. */
export type RouterStreamChunk = Exclude<StreamChunk, { type: 'usage' }> | RouterUsageChunk;

/**
 * Routes LLM calls to backends and keeps them inside their thread's budget.
 *
 * Each call: validates the request; with a `threadId`, reserves the prompt estimate plus `maxTokens` (or
 * `defaultCompletionReserve`) in the ledger, and with `policies`, the same estimate on every budget policy
 * that applies to the call (its model, thread, agent, user, org, key) — refused means no backend is called
 * and nothing stays held; picks a backend by
 * strategy among those serving the model (skipping cooling and rate-limited ones); retries retryable
 * failures on the next backend with exponential backoff and full jitter, honouring Retry-After; settles
 * the reservation to the provider's usage (or releases it on any failure, timeout or abort); records one
 * usage event, then settles the policies to that event's cost and tokens.
 *
 * @example
 * ```ts
 * const router = new LLMRouter({ strategy: 'failover', retries: { maxAttempts: 4 } });
 * router.addBackend(new MockBackend({ name: 'mock' }), { maxConcurrent: 8, tokensPerMinute: 200_000 });
 * const res = await router.complete({ model: 'mock-1', messages: [{ role: 'user', content: 'Hi' }], threadId: 't1' });
 * res.content; res.usage.totalTokens; res.budget?.usage?.remaining;
 * for await (const chunk of router.stream({ model: 'mock-1', messages, threadId: 't1' })) { ... }
 * ```
 */
export class LLMRouter {
  /** The backends, in configured order. A plain array: `router.backends.push(backend)` works. */
  readonly backends: Backend[];
  readonly strategy: RoutingStrategy;
  readonly retryPolicy: Readonly<RetryPolicy>;
  readonly cooldownPolicy: Readonly<CooldownPolicy>;
  readonly defaultCompletionReserve: number;
  readonly completionCeiling: number;
  readonly maxStreamDurationMs: number;

  /** The budget policies every charged call reserves against (see the `policies` option), if any. */
  readonly policies: PolicyGuard | undefined;
  private readonly fixedLedger: BudgetLedger | undefined;
  private readonly fixedTracker: UsageTracker | undefined;
  /** The ledger over the global registry, and the registry it wraps (the global one may be replaced). */
  private globalLedger: { wraps: ThreadBudgetRegistry; ledger: MemoryBudgetLedger } | undefined;
  private readonly pool: BackendPool;
  private readonly attempts: AttemptLoop;
  private readonly callSettings: CallSettings;
  private readonly now: () => number;
  private readonly trackerOf = (): UsageTracker => this.tracker;
  private readonly settleRetries = new SettleRetries(
    (err, reservation) =>
      console.error(`[tokenwarden] settling reservation ${reservation.id} of thread ${reservation.threadId} kept failing; gave up:`, err),
    (err, reservation) =>
      console.error(`[tokenwarden] settling budget-policy reservation ${reservation.id} kept failing; gave up (the hold lapses by itself):`, err),
  );

  constructor(options: LLMRouterOptions = {}) {
    const s = resolveRouterOptions(options);
    this.strategy = s.strategy;
    this.retryPolicy = s.retryPolicy;
    this.cooldownPolicy = s.cooldownPolicy;
    this.defaultCompletionReserve = s.defaultCompletionReserve;
    this.completionCeiling = s.completionCeiling;
    this.maxStreamDurationMs = s.maxStreamDurationMs;
    this.fixedLedger = s.ledger ?? (s.registry ? new MemoryBudgetLedger({ registry: s.registry }) : undefined);
    this.fixedTracker = s.tracker;
    this.policies = s.policies;
    this.now = s.now;
    this.pool = new BackendPool(s.strategy, s.timeoutMs);
    this.backends = this.pool.backends;
    const { retryPolicy, cooldownPolicy, now, sleep, random } = s;
    this.attempts = new AttemptLoop({ pool: this.pool, retryPolicy, cooldownPolicy, now, sleep, random });
    const { estimatePrompt, defaultCompletionReserve, completionCeiling, maxStreamDurationMs } = s;
    this.callSettings = { estimatePrompt, defaultCompletionReserve, completionCeiling, maxStreamDurationMs, now };
    s.backends.forEach((entry, i) => {
      const { backend, limits } = splitBackendEntry(entry);
      this.pool.add(backend, limits, ['backends', i]);
    });
  }

  /** The ledger calls are charged to (the global registry's, unless one was injected). */
  get ledger(): BudgetLedger {
    if (this.fixedLedger) return this.fixedLedger;
    const registry = getBudgetRegistry();
    if (this.globalLedger?.wraps !== registry) this.globalLedger = { wraps: registry, ledger: new MemoryBudgetLedger({ registry }) };
    return this.globalLedger.ledger;
  }

  /** The tracker usage events go to (the global one, unless one was injected). */
  get tracker(): UsageTracker {
    return this.fixedTracker ?? getUsageTracker();
  }

  /**
   * Adds a backend with optional limits (or sets the limits of one already added). Names must be unique.
   *
   * @example
   * ```ts
   * router.addBackend(backend, { maxConcurrent: 4, tokensPerMinute: 90_000, timeoutMs: 30_000 });
   * ```
   */
  addBackend(backend: Backend, limits: BackendLimits = {}): this {
    this.pool.add(backend, limits, ['backend']);
    return this;
  }

  /** Removes a backend (by object or name). Returns whether one was removed. */
  removeBackend(backend: Backend | string): boolean {
    return this.pool.remove(backend);
  }

  /** Calls in flight on a backend (what `least-loaded` compares). */
  inFlight(backend: Backend): number {
    return this.pool.inFlight(backend);
  }

  /** Whether the backend is cooling down after consecutive failures. */
  isCoolingDown(backend: Backend): boolean {
    return this.pool.isCooling(backend, this.now());
  }

  /**
   * Sends a chat completion to a backend serving `request.model` and charges its usage.
   *
   * Throws `BudgetExhaustedError`, or with `policies` `PolicyExhaustedError`, `RateLimitedError` or
   * `UnpricedModelError` (no backend called, nothing held), `NoBackendError`, `ProviderError` (a backend gave a
   * non-retryable answer; the message names backend and status), `AllBackendsFailedError` (every attempt
   * failed retryably), `CallAbortedError` (caller's signal or `timeoutMs`), `ValidationError`.
   */
  async complete(request: RouterCompletionRequest): Promise<RouterResponse> {
    const { call, bill, telemetry } = this.startCall(request, false);
    try {
      const holding = bill.reserve(); // no await without a thread or policies: the attempt starts in this tick
      if (holding) await holding;
      const { response, lease } = await (telemetry ? telemetry.run(() => this.attempts.complete(call)) : this.attempts.complete(call));
      const model = saneModel(response.model, call.req.model);
      if (telemetry && typeof response.finishReason === 'string') telemetry.finishReasons([response.finishReason]);
      const charge = await bill.chargeAnswer(lease, response.usage, () => deliveredText(response.content, response.toolCalls), model);
      const result: RouterResponse = { content: response.content, model, finishReason: response.finishReason, ...charge };
      if (response.toolCalls !== undefined) result.toolCalls = response.toolCalls;
      if (response.id !== undefined) result.id = response.id;
      return result;
    } catch (err) {
      telemetry?.failed(err);
      throw err;
    } finally {
      call.dispose();
      const closing = bill.close(undefined, '');
      if (closing) await closing;
    }
  }

  /**
   * Streams a chat completion: `delta` chunks, then `finish`, then one {@link RouterUsageChunk}. Failover
   * and retries happen only before the first delta. The thread is charged the provider's usage, or —
   * when the provider sent none, the stream broke, or the consumer stopped reading — the prompt estimate
   * plus the counted tokens of the text delivered so far. Breaking out of `for await` is safe.
   *
   * @example
   * ```ts
   * for await (const chunk of router.stream({ model: 'gpt-4o', messages, threadId: 't1' })) {
   *   if (chunk.type === 'delta') process.stdout.write(chunk.content);
   *   else if (chunk.type === 'usage') console.log(chunk.usage.totalTokens, chunk.usageEstimated);
   * }
   * ```
   */
  async *stream(request: RouterCompletionRequest): AsyncGenerator<RouterStreamChunk, void, undefined> {
    const { call, bill, telemetry } = this.startCall(request, true);
    const progress = new StreamProgress(call.completionLimit);
    try {
      const holding = bill.reserve(); // no await without a thread or policies: the attempt starts in this tick
      if (holding) await holding;
      for (;;) {
        const lease = await this.attempts.pickAndLease(call);
        const end = yield* streamAttempt(call, lease, progress, this.attempts);
        if (end.kind === 'retry') continue;
        if (end.kind === 'cut') {
          // Past its cap or its time: a broken or hostile upstream. Charged what was reserved, or what it
          // delivered when that is more (a call without max_tokens), never past the request's limit.
          await bill.chargeReservation(lease.backend, call.req.model, progress.meter.text);
          throw end.error;
        }
        lease.state.health.recordSuccess();
        if (telemetry && typeof end.finish?.finishReason === 'string') telemetry.finishReasons([end.finish.finishReason]);
        const charge = await bill.chargeAnswer(lease, end.reported, progress.meter.text, call.req.model);
        if (end.finish) yield end.finish;
        yield { type: 'usage', ...charge };
        return;
      }
    } catch (err) {
      telemetry?.failed(err);
      throw err;
    } finally {
      call.dispose();
      const closing = bill.close(progress.servedBy, progress.meter.text);
      if (closing) await closing;
    }
  }

  /**
   * Sends an embeddings request (its `body` unchanged) to a backend serving `request.model` that can embed,
   * failing over as `complete()` does, and charges the thread the provider's `prompt_tokens` (else
   * `inputTokens`), through the same bill: reserve `inputTokens` first (refused: `BudgetExhaustedError`, no
   * backend called), release on failure, one usage event. Backends without `embed` are skipped; none:
   * `NoBackendError`.
   */
  async embed(request: EmbeddingRequest): Promise<RouterEmbedding> {
    const { req, body, inputTokens } = validateEmbeddingRequest(request);
    const settings = { ...this.callSettings, estimatePrompt: () => inputTokens, defaultCompletionReserve: 0 };
    const call = new RouterCall(req, false, this.pool.orderFor(req.model, 'embed'), settings);
    const telemetry = startCallTelemetry(call, 'embeddings');
    const bill = new CallBill(call, req.threadId !== undefined ? this.ledger : undefined, this.policies, this.trackerOf, this.settleRetries, telemetry);
    try {
      const holding = bill.reserve();
      if (holding) await holding;
      const attempt = () =>
        this.attempts.run(call, (l) => {
          const sent: EmbeddingBackendRequest = withAttemptScope({ model: req.model, body }, l.attempt);
          return l.backend.embed!(sent);
        });
      const { response, lease } = await (telemetry ? telemetry.run(attempt) : attempt());
      const charge = await bill.chargeEmbedding(lease, response.usage?.promptTokens, req.model, embeddingInputCeiling(body.input));
      return { body: response.body, ...charge };
    } catch (err) {
      telemetry?.failed(err);
      throw err;
    } finally {
      call.dispose();
      const closing = bill.close(undefined, '');
      if (closing) await closing;
    }
  }

  /**
   * Sends a request of a wire API (`chat`, `responses`, `completions`, `messages`, ...) with its body
   * unchanged to a backend serving `request.model` that speaks that API natively (`backend.apis`), failing
   * over as `complete()` does, and charges the thread the usage read from the answer through the same bill:
   * `inputTokens` plus the output cap (times `choices`) reserved first (refused: `BudgetExhaustedError`, no
   * backend called), released on failure, one usage event. None speaks the API: `NoBackendError`. For an API
   * the provider does not charge (`count_tokens`), see {@link forwardUncharged}.
   *
   * @example
   * ```ts
   * const res = await router.forward({ api: 'chat', model: 'gpt-4o-mini', body, inputTokens: 12, maxOutputTokens: 100, threadId: 't1' });
   * res.body; // the upstream's answer as it sent it
   * ```
   */
  async forward(request: ForwardCallRequest): Promise<RouterForward> {
    const f = validateForwardRequest(request);
    const { call, bill, telemetry } = this.startForward(f, false, true);
    try {
      const holding = bill.reserve();
      if (holding) await holding;
      const attempt = () => this.attempts.run(call, (l) => l.backend.forward!(forwardRequestOf(f, l)));
      const { response, lease } = await (telemetry ? telemetry.run(attempt) : attempt());
      const model = saneModel(response.model, call.req.model);
      const charge = await bill.chargeAnswer(lease, response.usage, () => bodyText(response.body), model);
      const result: RouterForward = { body: response.body, model, ...charge };
      if (typeof response.rawBody === 'string') result.rawBody = response.rawBody;
      return result;
    } catch (err) {
      telemetry?.failed(err);
      throw err;
    } finally {
      call.dispose();
      const closing = bill.close(undefined, '');
      if (closing) await closing;
    }
  }

  /**
   * Sends a request the provider does not charge for (Anthropic's `count_tokens`) with its body unchanged,
   * routed and failed over like {@link forward}, with no reservation and no usage event.
   */
  async forwardUncharged(request: ForwardCallRequest): Promise<{ body: unknown; rawBody?: string; backend: string; provider: string }> {
    const f = validateForwardRequest(request);
    const { call } = this.startForward(f, false, false);
    try {
      const { response, lease } = await this.attempts.run(call, (l) => l.backend.forward!(forwardRequestOf(f, l)));
      // Nothing was generated: the call takes back what its rate window counted for it.
      if (lease.tpmEntry) lease.state.tpm?.adjust(lease.tpmEntry, 0);
      const result: { body: unknown; rawBody?: string; backend: string; provider: string } = { body: response.body, backend: lease.backend.name, provider: lease.backend.provider };
      if (typeof response.rawBody === 'string') result.rawBody = response.rawBody;
      return result;
    } finally {
      call.dispose();
    }
  }

  /**
   * Streams a request of a wire API with its body unchanged (see {@link forward}): the upstream's events as
   * it sent them, then one {@link RouterForwardEnd} with the charge and the upstream's last events (its usage
   * chunk, its end marker), held back so that a caller sends them only once the charge is stored. Charged the
   * reported usage, or the prompt estimate plus the text delivered when the stream broke, was cut past its
   * cap, or the consumer stopped reading. Failover only before the first event.
   */
  async *forwardStream(request: ForwardCallRequest): AsyncGenerator<RouterForwardChunk, void, undefined> {
    const f = validateForwardRequest(request);
    const { call, bill, telemetry } = this.startForward(f, true, true);
    const progress = new StreamProgress(call.completionLimit);
    try {
      const holding = bill.reserve();
      if (holding) await holding;
      for (;;) {
        const lease = await this.attempts.pickAndLease(call);
        const end = yield* forwardStreamAttempt(call, lease, progress, this.attempts, f);
        if (end.kind === 'retry') continue;
        if (end.kind === 'cut') {
          await bill.chargeReservation(lease.backend, call.req.model, progress.meter.text);
          throw end.error;
        }
        if (!end.failed) lease.state.health.recordSuccess();
        const charge = await bill.chargeAnswer(lease, end.reported, progress.meter.text, call.req.model);
        yield { type: 'usage', ...charge, tail: end.tail };
        return;
      }
    } catch (err) {
      telemetry?.failed(err);
      throw err;
    } finally {
      call.dispose();
      const closing = bill.close(progress.servedBy, progress.meter.text);
      if (closing) await closing;
    }
  }

  /**
   * Whether a backend serving `model` speaks `api` natively (then the gateway forwards a request of that
   * API unchanged; else it translates through `complete()`/`stream()`). False when no backend serves it.
   */
  speaks(model: string, api: WireApi): boolean {
    return this.backends.some((b) => b.servesModel(model) && Array.isArray(b.apis) && b.apis.includes(api));
  }

  /**
   * Resolves once every settle the router is retrying in the background (after a ledger failed to take
   * a charge) has landed or been given up. Await it before closing the ledger at shutdown.
   */
  async drainSettles(): Promise<void> {
    await this.settleRetries.idle();
  }

  /** A checked forward request as a call (the backends speaking its API) and its bill. */
  private startForward(f: CheckedForward, streaming: boolean, metered: boolean): CallParts {
    const { req, inputTokens, choices, promptCeiling } = f;
    const s = this.callSettings;
    // Nothing is generated by an uncharged call or by embeddings: no completion is reserved, nor allowed.
    const generates = metered && f.api !== 'embeddings';
    const settings = {
      ...s,
      estimatePrompt: () => inputTokens,
      defaultCompletionReserve: generates ? s.defaultCompletionReserve * choices : 0,
      completionCeiling: generates ? s.completionCeiling * choices : 0,
      promptCeiling,
    };
    const call = new RouterCall(req, streaming, this.pool.orderFor(req.model, { forward: f.api, stream: streaming }), settings);
    const ledger = metered && req.threadId !== undefined ? this.ledger : undefined;
    // An uncharged call (count_tokens) is no GenAI operation: no span.
    const telemetry = metered ? startCallTelemetry(call, { api: f.api }) : undefined;
    return { call, bill: new CallBill(call, ledger, metered ? this.policies : undefined, this.trackerOf, this.settleRetries, telemetry), telemetry };
  }

  /** A checked request as a call (its backends in order) and its bill (the thread's ledger, if any). */
  private startCall(request: RouterCompletionRequest, streaming: boolean): CallParts {
    const req = validateRequest(request);
    const call = new RouterCall(req, streaming, this.pool.orderFor(req.model, streaming ? 'stream' : 'complete'), this.callSettings);
    const ledger = req.threadId !== undefined ? this.ledger : undefined;
    const telemetry = startCallTelemetry(call, 'chat');
    return { call, bill: new CallBill(call, ledger, this.policies, this.trackerOf, this.settleRetries, telemetry), telemetry };
  }
}
