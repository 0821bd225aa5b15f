import { getBudgetRegistry, type ThreadBudgetRegistry } from '../budget/registry.js';
import type { BudgetLedger, Reservation } from '../budget/types.js';
import {
  AllBackendsFailedError,
  CallAbortedError,
  NoBackendError,
  ProviderError,
  ValidationError,
} from '../core/errors.js';
import { MemoryBudgetLedger } from '../budget/memory-ledger.js';
import { estimateTokens, estimateToolsTokens } from '../tokens/estimate.js';
import type {
  Backend,
  BackendRequest,
  ChatMessage,
  CompletionRequest,
  LLMResponse,
  StreamChunk,
  TokenUsage,
} from '../core/types.js';
import { assertEventMetadata, assertEventText } from '../usage/event-fields.js';
import { getUsageTracker, type UsageTracker } from '../usage/tracker.js';
import { assertThreadId, assertTokenCount } from '../core/validate.js';
import { deliveredText, estimatedUsage, toolCallText } from './accounting.js';
import { chargeCall, SettleRetries, type RouterCharge } from './charge.js';
import { BackendHealth, resolveCooldownPolicy, type CooldownOptions, type CooldownPolicy } from './cooldown.js';
import { attemptError, attemptTimeoutError, backendLabel, streamCutError, waitTooLong } from './errors.js';
import { ConcurrencyLimiter, TokenRateWindow, type WindowEntry } from './limits.js';
import { OutputMeter } from './output-meter.js';
import { checkUsage, promptCeiling, saneModel, type UsageLimits } from './plausibility.js';
import { backoffDelayMs, resolveRetryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import { abortableSleep, callAbortOf, AbortScope, raceAbort, withAttemptScope } from '../core/abort.js';
import { isRoutingStrategy, orderBackends, ROUTING_STRATEGIES, type RoutingStrategy } from './strategy.js';

/** Limits of one backend, set with {@link LLMRouter.addBackend} (a backend pushed directly has none). */
export interface BackendLimits {
  /** Calls running at once on this backend; more wait in a queue. Default: unlimited. */
  maxConcurrent?: number;
  /** Calls that may wait for a concurrency slot; one more fails over. Default 1 000. */
  maxQueue?: number;
  /** Prompt + completion tokens sent per sliding minute. Default: unlimited. */
  tokensPerMinute?: number;
  /** Timeout of one attempt on this backend, ms (an idle timeout between chunks when streaming). */
  timeoutMs?: number;
}

/** A backend with its limits, as accepted by the `backends` option. */
export interface BackendEntry extends BackendLimits {
  backend: Backend;
}

/** Options of {@link LLMRouter}. Every one is optional. */
export interface LLMRouterOptions {
  /** Initial backends (objects implementing {@link Backend}, optionally with limits). */
  backends?: ReadonlyArray<Backend | BackendEntry>;
  /** Backend selection. Default `failover`. */
  strategy?: RoutingStrategy;
  /** Where thread budgets live. Default: the global registry (`getBudgetRegistry()`), looked up per call. */
  ledger?: BudgetLedger;
  /** A registry to hold budgets in (wrapped in a MemoryBudgetLedger). Exclusive with `ledger`. */
  registry?: ThreadBudgetRegistry;
  /** Receives one usage event per successful call. Default: the global tracker, looked up per call. */
  tracker?: UsageTracker;
  retries?: RetryOptions;
  cooldown?: CooldownOptions;
  /** Completion tokens reserved when a request has no `maxTokens`. Default 1 024. */
  defaultCompletionReserve?: number;
  /**
   * Most completion tokens a call without `maxTokens` may produce (the reservation stays
   * `defaultCompletionReserve`): its stream is cut past it and reported usage above it is implausible.
   * Default 131 072, the longest output of current models. With `maxTokens`, `maxTokens` is the limit.
   */
  completionCeiling?: number;
  /**
   * Longest a stream may run in all, ms; then it is cut (a `STREAM_TOO_LONG` provider error, charged at
   * the reservation). A call's own shorter `timeoutMs` wins. Default 600 000 (10 minutes).
   */
  maxStreamDurationMs?: number;
  /** Timeout of one attempt on a backend without its own `timeoutMs`, ms. Default 120 000. */
  timeoutMs?: number;
  /**
   * Prompt token estimate used for reservations and when a provider reports no usage. Default: the
   * messages and tool definitions, with the tokenizer profile of the requested model.
   */
  estimateTokens?: (messages: ChatMessage[], request: CompletionRequest) => number;
  /** Clock (epoch ms) for rate windows, cooldowns and Retry-After. Default `Date.now`. */
  now?: () => number;
  /** Waits between attempts; must reject when `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of backoff jitter in [0, 1). Default `Math.random`. */
  random?: () => number;
}

export type { RouterBudgetInfo, RouterCharge } from './charge.js';

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

interface BackendState {
  limiter: ConcurrencyLimiter | undefined;
  tpm: TokenRateWindow | undefined;
  timeoutMs: number | undefined;
  health: BackendHealth;
  inFlight: number;
}

/** One call in progress. */
interface CallState {
  req: CompletionRequest;
  /** Streams time attempts by silence between chunks, not by total duration. */
  streaming: boolean;
  order: Backend[];
  /** Index in `order` of the backend tried last (-1 before the first attempt). */
  cursor: number;
  failures: ProviderError[];
  tried: Set<Backend>;
  /** Caller's signal + the call's timeout; absent when the call has neither (saves an AbortController). */
  scope: AbortScope | undefined;
  /** Epoch ms (router clock) when the call's own timeout ends. */
  deadline: number | undefined;
  /** The call's timeout: its own `timeoutMs`, or for a stream `maxStreamDurationMs` if shorter. */
  timeoutMs: number | undefined;
  /** True when the call's timer is the router's stream duration cap (firing cuts the stream). */
  durationCapped: boolean;
  promptEstimate: number | undefined;
  /** Prompt estimate + completion cap: what a reservation and a rate window are charged. */
  budgetTokens: number | undefined;
  startedAt: number;
}

/** A backend held for one attempt. */
interface Lease {
  backend: Backend;
  state: BackendState;
  attempt: AbortScope;
  timeoutMs: number | undefined;
  tpmEntry: WindowEntry | undefined;
  end(): void;
}

const DEFAULT_COMPLETION_RESERVE = 1_024;
const DEFAULT_COMPLETION_CEILING = 131_072;
const DEFAULT_MAX_STREAM_DURATION_MS = 600_000;
const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_QUEUE = 1_000;
const OPTION_KEYS = [
  'backends', 'strategy', 'ledger', 'registry', 'tracker', 'retries', 'cooldown', 'defaultCompletionReserve',
  'completionCeiling', 'maxStreamDurationMs', 'timeoutMs', 'estimateTokens', 'now', 'sleep', 'random',
];
const LIMIT_KEYS = ['maxConcurrent', 'maxQueue', 'tokensPerMinute', 'timeoutMs'];
const REQUEST_KEYS = new Set([
  'model', 'messages', 'threadId', 'agentId', 'metadata', 'maxTokens', 'temperature', 'topP', 'stop', 'tools',
  'toolChoice', 'signal', 'timeoutMs',
]);

/**
 * Routes LLM calls to backends and keeps them inside their thread's budget.
 *
 * Each call: validates the request; with a `threadId`, reserves the prompt estimate plus `maxTokens` (or
 * `defaultCompletionReserve`) in the ledger — refused means no backend is called; picks a backend by
 * strategy among those serving the model (skipping cooling and rate-limited ones); retries retryable
 * failures on the next backend with exponential backoff and full jitter, honouring Retry-After; settles
 * the reservation to the provider's usage (or releases it on any failure, timeout or abort); records one
 * usage event.
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
  readonly backends: Backend[] = [];
  readonly strategy: RoutingStrategy;
  readonly retryPolicy: Readonly<RetryPolicy>;
  readonly cooldownPolicy: Readonly<CooldownPolicy>;
  readonly defaultCompletionReserve: number;
  readonly completionCeiling: number;
  readonly maxStreamDurationMs: number;

  private readonly fixedLedger: BudgetLedger | undefined;
  private readonly fixedTracker: UsageTracker | undefined;
  private globalLedger: { registry: ThreadBudgetRegistry; ledger: MemoryBudgetLedger } | undefined;
  private readonly states = new WeakMap<Backend, BackendState>();
  private readonly defaultTimeoutMs: number;
  private readonly estimatePrompt: (messages: ChatMessage[], request: CompletionRequest) => number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private turn = 0;
  private readonly settleRetries = new SettleRetries((err, reservation) =>
    console.error(`[tokenwarden] settling reservation ${reservation.id} of thread ${reservation.threadId} kept failing; gave up:`, err),
  );

  constructor(options: LLMRouterOptions = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ValidationError('options', options, 'must be an object');
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) {
        throw new ValidationError(key, (options as Record<string, unknown>)[key], `unknown LLMRouter option (expected one of ${OPTION_KEYS.join(', ')})`);
      }
    }
    const strategy = options.strategy ?? 'failover';
    if (!isRoutingStrategy(strategy)) {
      throw new ValidationError('strategy', strategy, `must be one of ${ROUTING_STRATEGIES.join(', ')}`);
    }
    this.strategy = strategy;
    this.retryPolicy = Object.freeze(resolveRetryPolicy(options.retries, 'retries'));
    this.cooldownPolicy = Object.freeze(resolveCooldownPolicy(options.cooldown, 'cooldown'));
    const reserve = options.defaultCompletionReserve ?? DEFAULT_COMPLETION_RESERVE;
    assertTokenCount('defaultCompletionReserve', reserve);
    this.defaultCompletionReserve = reserve;
    const ceiling = options.completionCeiling ?? DEFAULT_COMPLETION_CEILING;
    assertIntegerAtLeast('completionCeiling', ceiling, 1);
    assertTokenCount('completionCeiling', ceiling);
    this.completionCeiling = ceiling;
    const streamMs = options.maxStreamDurationMs ?? DEFAULT_MAX_STREAM_DURATION_MS;
    assertPositiveMs('maxStreamDurationMs', streamMs);
    this.maxStreamDurationMs = streamMs;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    assertPositiveMs('timeoutMs', timeoutMs);
    this.defaultTimeoutMs = timeoutMs;

    if (options.ledger !== undefined && options.registry !== undefined) {
      throw new ValidationError('registry', options.registry, 'cannot be combined with the ledger option (pass one)');
    }
    if (options.ledger !== undefined) assertLedger(options.ledger);
    if (options.registry !== undefined && (typeof options.registry !== 'object' || options.registry === null || typeof options.registry.reserve !== 'function')) {
      throw new ValidationError('registry', options.registry, 'must be a ThreadBudgetRegistry');
    }
    this.fixedLedger = options.ledger ?? (options.registry ? new MemoryBudgetLedger({ registry: options.registry }) : undefined);
    if (options.tracker !== undefined && (typeof options.tracker !== 'object' || options.tracker === null || typeof options.tracker.record !== 'function')) {
      throw new ValidationError('tracker', options.tracker, 'must be a UsageTracker (an object with record())');
    }
    this.fixedTracker = options.tracker;

    this.estimatePrompt = optionalFunction('estimateTokens', options.estimateTokens) ?? defaultPromptEstimate;
    this.now = optionalFunction('now', options.now) ?? Date.now;
    this.sleep = optionalFunction('sleep', options.sleep) ?? abortableSleep;
    this.random = optionalFunction('random', options.random) ?? Math.random;

    if (options.backends !== undefined) {
      if (!Array.isArray(options.backends)) throw new ValidationError('backends', options.backends, 'must be an array');
      options.backends.forEach((entry, i) => {
        if (entry && typeof entry === 'object' && 'backend' in entry) {
          const { backend, ...limits } = entry;
          this.addBackendAt(backend, limits, `backends[${i}]`);
        } else {
          this.addBackendAt(entry as Backend, {}, `backends[${i}]`);
        }
      });
    }
  }

  /** The ledger calls are charged to (the global registry's, unless one was injected). */
  get ledger(): BudgetLedger {
    if (this.fixedLedger) return this.fixedLedger;
    const registry = getBudgetRegistry();
    if (!this.globalLedger || this.globalLedger.registry !== registry) {
      this.globalLedger = { registry, ledger: new MemoryBudgetLedger({ registry }) };
    }
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
    this.addBackendAt(backend, limits, 'backend');
    return this;
  }

  /** Removes a backend (by object or name). Returns whether one was removed. */
  removeBackend(backend: Backend | string): boolean {
    const i = this.backends.findIndex((b) => (typeof backend === 'string' ? b.name === backend : b === backend));
    if (i < 0) return false;
    this.backends.splice(i, 1);
    return true;
  }

  /** Calls in flight on a backend (what `least-loaded` compares). */
  inFlight(backend: Backend): number {
    return this.states.get(backend)?.inFlight ?? 0;
  }

  /** Whether the backend is cooling down after consecutive failures. */
  isCoolingDown(backend: Backend): boolean {
    return this.states.get(backend)?.health.isCooling(this.now()) ?? false;
  }

  /**
   * Sends a chat completion to a backend serving `request.model` and charges its usage.
   *
   * Throws `BudgetExhaustedError` (no backend called), `NoBackendError`, `ProviderError` (a backend gave a
   * non-retryable answer; the message names backend and status), `AllBackendsFailedError` (every attempt
   * failed retryably), `CallAbortedError` (caller's signal or `timeoutMs`), `ValidationError`.
   */
  async complete(request: CompletionRequest): Promise<RouterResponse> {
    const req = this.validateRequest(request);
    const call = this.startCall(req, this.candidates(req.model, false), false);
    const hold: Hold = { ledger: req.threadId !== undefined ? this.ledger : undefined, reservation: undefined };
    let charging = false;
    try {
      if (hold.ledger) hold.reservation = await hold.ledger.reserve(req.threadId!, this.budgetTokens(call));
      const { response, lease } = await this.runComplete(call);
      charging = true; // answered: from here on the call is charged (once), never released
      const model = saneModel(response.model, req.model);
      const text = deliveredText(response.content, response.toolCalls);
      const charge = await this.chargeAnswer(call, lease, hold, response.usage, text, model);
      const result: RouterResponse = { content: response.content, model, finishReason: response.finishReason, ...charge };
      if (response.toolCalls !== undefined) result.toolCalls = response.toolCalls;
      if (response.id !== undefined) result.id = response.id;
      return result;
    } finally {
      call.scope?.dispose();
      if (hold.ledger && hold.reservation && !charging) await hold.ledger.release(hold.reservation).catch(() => undefined);
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
  async *stream(request: CompletionRequest): AsyncGenerator<RouterStreamChunk, void, undefined> {
    const req = this.validateRequest(request);
    const call = this.startCall(req, this.candidates(req.model, true), true);
    const hold: Hold = { ledger: req.threadId !== undefined ? this.ledger : undefined, reservation: undefined };
    const progress: StreamProgress = { meter: new OutputMeter(this.completionLimit(call)), servedBy: undefined };
    let charging = false;
    try {
      if (hold.ledger) hold.reservation = await hold.ledger.reserve(req.threadId!, this.budgetTokens(call));
      for (;;) {
        const lease = await this.acquireLease(call);
        const end = yield* this.streamAttempt(call, lease, progress);
        if (end.kind === 'retry') continue;
        charging = true;
        if (end.kind === 'cut') {
          // Past its cap or its time: a broken or hostile upstream. Charged what was reserved, or what it
          // delivered when that is more (a call without max_tokens), never past the request's limit.
          await this.chargeReservation(call, lease.backend, hold, req.model, progress.meter.text);
          throw end.error;
        }
        lease.state.health.recordSuccess();
        const charge = await this.chargeAnswer(call, lease, hold, end.reported, progress.meter.text, req.model);
        if (end.finish) yield end.finish;
        yield { type: 'usage', ...charge };
        return;
      }
    } finally {
      call.scope?.dispose();
      if (!charging) {
        if (progress.servedBy) {
          // Broken, aborted or abandoned after text went out: charge what was delivered, never zero.
          const usage = this.estimateDelivered(call, progress.meter.text);
          await chargeCall(this.chargeInput(call, progress.servedBy, hold, req.model, usage, true), this.tracker, this.settleRetries);
        } else if (hold.ledger && hold.reservation) {
          await hold.ledger.release(hold.reservation).catch(() => undefined);
        }
      }
    }
  }

  /**
   * One attempt of a stream: yields its deltas and says how it ended. A failure before any delta asks for
   * another attempt (or throws when the call must stop); after one, it is thrown (no failover mid-answer).
   */
  private async *streamAttempt(
    call: CallState,
    lease: Lease,
    progress: StreamProgress,
  ): AsyncGenerator<Extract<StreamChunk, { type: 'delta' }>, AttemptEnd, undefined> {
    const meter = progress.meter;
    let iterator: AsyncIterator<StreamChunk> | undefined;
    let exhausted = false;
    let finish: Extract<StreamChunk, { type: 'finish' }> | undefined;
    let reported: unknown;
    try {
      iterator = lease.backend.stream!(this.backendRequest(call.req, lease.attempt))[Symbol.asyncIterator]();
      for (;;) {
        const step = await raceAbort(iterator.next(), lease.attempt);
        if (step.done) {
          exhausted = true;
          return { kind: 'answered', finish, reported };
        }
        const chunk = step.value;
        if (chunk.type === 'delta') {
          progress.servedBy = lease.backend;
          meter.add(typeof chunk.content === 'string' ? chunk.content : '');
          if (chunk.toolCalls) for (const tc of chunk.toolCalls) meter.add(toolCallText(tc));
          if (meter.pastCap) {
            const problem = `went on past the output cap of ${meter.cap} tokens (at least ${meter.minimumTokens} delivered)`;
            return { kind: 'cut', error: streamCutError(lease.backend, 'OUTPUT_CAP_EXCEEDED', problem) };
          }
          lease.attempt.pause();
          yield chunk;
          lease.attempt.resume();
        } else {
          if (chunk.type === 'finish') finish = chunk;
          else if (chunk.type === 'usage' && chunk.usage !== undefined && chunk.usage !== null) reported = chunk.usage;
          lease.attempt.touch();
        }
      }
    } catch (err) {
      if (progress.servedBy && call.durationCapped && call.scope?.cause === 'timeout') {
        const problem = `was still streaming after ${call.timeoutMs} ms (maxStreamDurationMs)`;
        return { kind: 'cut', error: streamCutError(lease.backend, 'STREAM_TOO_LONG', problem) };
      }
      if (progress.servedBy) throw this.midStreamFailure(call, lease, err);
      this.attemptFailed(call, lease, err);
      return { kind: 'retry' };
    } finally {
      if (!exhausted && iterator) {
        lease.attempt.abort(new Error('stream abandoned by the router'));
        try {
          iterator.return?.()?.catch?.(() => undefined);
        } catch {
          // a backend whose return() throws synchronously has nothing left to clean up
        }
      }
      lease.end();
    }
  }

  /**
   * Resolves once every settle the router is retrying in the background (after a ledger failed to take
   * a charge) has landed or been given up. Await it before closing the ledger at shutdown.
   */
  async drainSettles(): Promise<void> {
    await this.settleRetries.idle();
  }

  // ---------------------------------------------------------------------------------------------

  private addBackendAt(backend: Backend, limits: BackendLimits, field: string): void {
    assertBackend(field, backend);
    const existing = this.backends.find((b) => b.name === backend.name);
    if (existing && existing !== backend) {
      throw new ValidationError(`${field}.name`, backend.name, 'a backend with this name is already configured (names must be unique)');
    }
    this.states.set(backend, this.buildState(backend, limits, field));
    if (!existing) this.backends.push(backend);
  }

  private buildState(backend: Backend, limits: BackendLimits, field: string): BackendState {
    if (limits === null || typeof limits !== 'object') throw new ValidationError(`${field} limits`, limits, 'must be an object');
    for (const key of Object.keys(limits)) {
      if (!LIMIT_KEYS.includes(key)) {
        throw new ValidationError(`${field}.${key}`, (limits as Record<string, unknown>)[key], `unknown backend limit (expected one of ${LIMIT_KEYS.join(', ')})`);
      }
    }
    const { maxConcurrent, maxQueue = DEFAULT_MAX_QUEUE, tokensPerMinute, timeoutMs } = limits;
    if (maxConcurrent !== undefined) assertIntegerAtLeast(`${field}.maxConcurrent`, maxConcurrent, 1);
    assertIntegerAtLeast(`${field}.maxQueue`, maxQueue, 0);
    if (tokensPerMinute !== undefined) assertIntegerAtLeast(`${field}.tokensPerMinute`, tokensPerMinute, 1);
    if (timeoutMs !== undefined) assertPositiveMs(`${field}.timeoutMs`, timeoutMs);
    const previous = this.states.get(backend);
    return {
      limiter:
        maxConcurrent === undefined
          ? undefined
          : new ConcurrencyLimiter({ max: maxConcurrent, maxQueue, name: backend.name, provider: backend.provider }),
      tpm: tokensPerMinute === undefined ? undefined : new TokenRateWindow({ tokensPerMinute }),
      timeoutMs,
      health: previous?.health ?? new BackendHealth(),
      inFlight: previous?.inFlight ?? 0,
    };
  }

  private stateOf(backend: Backend): BackendState {
    let state = this.states.get(backend);
    if (!state) {
      state = { limiter: undefined, tpm: undefined, timeoutMs: undefined, health: new BackendHealth(), inFlight: 0 };
      this.states.set(backend, state);
    }
    return state;
  }

  /**
   * Charges an answered call: the reported usage when plausible, else (none reported) the estimate of what
   * was delivered. Implausible usage is charged at the reservation and thrown.
   */
  private async chargeAnswer(call: CallState, lease: Lease, hold: Hold, raw: unknown, text: string, model: string): Promise<RouterCharge> {
    let reported: TokenUsage | undefined;
    try {
      reported = checkUsage(raw, this.usageLimits(call), lease.backend);
    } catch (err) {
      await this.chargeReservation(call, lease.backend, hold, model);
      throw err;
    }
    const usage = reported ?? this.estimateDelivered(call, text);
    if (lease.tpmEntry) lease.state.tpm?.adjust(lease.tpmEntry, usage.totalTokens);
    return chargeCall(this.chargeInput(call, lease.backend, hold, model, usage, reported === undefined), this.tracker, this.settleRetries);
  }

  /**
   * Charges what the call reserved (its prompt estimate plus its completion cap), or the counted `delivered`
   * text when that is more (at most the request's completion limit: see {@link estimateDelivered}).
   */
  private async chargeReservation(call: CallState, backend: Backend, hold: Hold, model: string, delivered = ''): Promise<void> {
    const prompt = this.promptEstimate(call);
    const reserved = call.req.maxTokens ?? this.defaultCompletionReserve;
    const completion = delivered === '' ? reserved : Math.max(reserved, this.estimateDelivered(call, delivered).completionTokens);
    const usage: TokenUsage = { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion };
    await chargeCall(this.chargeInput(call, backend, hold, model, usage, true), this.tracker, this.settleRetries);
  }

  private chargeInput(call: CallState, backend: Backend, hold: Hold, model: string, usage: TokenUsage, usageEstimated: boolean) {
    return { req: call.req, model, backend, usage, usageEstimated, startedAt: call.startedAt, ledger: hold.ledger, reservation: hold.reservation };
  }

  /** The prompt estimate plus the counted tokens of the delivered text, at most the request's completion limit. */
  private estimateDelivered(call: CallState, text: string): TokenUsage {
    const usage = estimatedUsage(this.promptEstimate(call), text, call.req.model);
    const limit = this.completionLimit(call);
    if (usage.completionTokens <= limit) return usage;
    return { promptTokens: usage.promptTokens, completionTokens: limit, totalTokens: usage.promptTokens + limit };
  }

  /** The most completion tokens the request may produce: its `maxTokens`, else the router's ceiling. */
  private completionLimit(call: CallState): number {
    return call.req.maxTokens ?? this.completionCeiling;
  }

  private usageLimits(call: CallState): UsageLimits {
    return { promptTokens: promptCeiling(call.req.messages, call.req.tools), completionTokens: this.completionLimit(call) };
  }

  private validateRequest(request: CompletionRequest): CompletionRequest {
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      throw new ValidationError('request', request, 'must be an object like { model, messages }');
    }
    for (const key of Object.keys(request)) {
      if (!REQUEST_KEYS.has(key)) {
        throw new ValidationError(key, (request as unknown as Record<string, unknown>)[key], `unknown request field (expected one of ${[...REQUEST_KEYS].join(', ')})`);
      }
    }
    const r = request;
    if (typeof r.model !== 'string' || r.model.trim() === '') throw new ValidationError('model', r.model, 'must be a non-empty string');
    // What the usage event will carry is checked now, by the tracker's rules: an answered call must never
    // fail to be recorded because of its own request.
    assertEventText('model', r.model);
    if (!Array.isArray(r.messages)) throw new ValidationError('messages', r.messages, 'must be an array of chat messages');
    r.messages.forEach((m, i) => {
      if (m === null || typeof m !== 'object' || typeof m.role !== 'string') {
        throw new ValidationError(`messages[${i}]`, m, 'must be a chat message like { role, content }');
      }
    });
    if (r.threadId !== undefined) assertThreadId('threadId', r.threadId);
    if (r.agentId !== undefined && r.agentId !== null) assertEventText('agentId', r.agentId);
    if (r.metadata !== undefined) assertEventMetadata('metadata', r.metadata);
    if (r.maxTokens !== undefined) assertIntegerAtLeast('maxTokens', r.maxTokens, 1);
    if (r.timeoutMs !== undefined) assertPositiveMs('timeoutMs', r.timeoutMs);
    if (r.signal !== undefined && !(r.signal instanceof AbortSignal)) {
      throw new ValidationError('signal', r.signal, 'must be an AbortSignal');
    }
    return r;
  }

  private candidates(model: string, streaming: boolean): Backend[] {
    const serving = this.backends.filter((b) => b.servesModel(model));
    const names = this.backends.map((b) => b.name);
    if (serving.length === 0) throw new NoBackendError(model, names);
    if (!streaming) return serving;
    const streamers = serving.filter((b) => typeof b.stream === 'function');
    if (streamers.length === 0) {
      throw new NoBackendError(model, names, `backends serving it (${serving.map((b) => b.name).join(', ')}) cannot stream`);
    }
    return streamers;
  }

  private startCall(req: CompletionRequest, candidates: Backend[], streaming: boolean): CallState {
    const order = orderBackends(this.strategy, candidates, { turn: this.turn++, loadOf: (b) => this.inFlight(b) });
    if (this.turn > Number.MAX_SAFE_INTEGER - 1) this.turn = 0;
    const parent = req.signal ?? callAbortOf(req);
    // A stream's timer is also its total duration cap; the call's own timeout wins when shorter.
    const durationCapped = streaming && (req.timeoutMs === undefined || req.timeoutMs > this.maxStreamDurationMs);
    const timeoutMs = durationCapped ? this.maxStreamDurationMs : req.timeoutMs;
    return {
      req,
      streaming,
      order,
      cursor: -1,
      failures: [],
      tried: new Set(),
      scope: parent !== undefined || timeoutMs !== undefined ? new AbortScope(parent, timeoutMs) : undefined,
      deadline: req.timeoutMs === undefined ? undefined : this.now() + req.timeoutMs,
      timeoutMs,
      durationCapped,
      promptEstimate: undefined,
      budgetTokens: undefined,
      startedAt: performance.now(),
    };
  }

  private promptEstimate(call: CallState): number {
    if (call.promptEstimate === undefined) {
      const n = this.estimatePrompt(call.req.messages, call.req);
      call.promptEstimate = typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
    }
    return call.promptEstimate;
  }

  private budgetTokens(call: CallState): number {
    return (call.budgetTokens ??= this.promptEstimate(call) + (call.req.maxTokens ?? this.defaultCompletionReserve));
  }

  private async runComplete(call: CallState): Promise<{ response: LLMResponse; lease: Lease }> {
    for (;;) {
      const lease = await this.acquireLease(call);
      try {
        const request = this.backendRequest(call.req, lease.attempt);
        let pending: Promise<LLMResponse>;
        try {
          pending = Promise.resolve(lease.backend.complete(request));
        } catch (err) {
          pending = Promise.reject(err);
        }
        const response = await raceAbort(pending, lease.attempt);
        if (response === null || typeof response !== 'object') {
          throw new ProviderError({
            code: 'MALFORMED_RESPONSE',
            provider: lease.backend.provider,
            backend: lease.backend.name,
            isRetryable: false,
            message: `${backendLabel(lease.backend)} returned ${response === null ? 'null' : typeof response} instead of a response`,
          });
        }
        lease.state.health.recordSuccess();
        return { response, lease };
      } catch (err) {
        this.attemptFailed(call, lease, err);
      } finally {
        lease.end();
      }
    }
  }

  /**
   * Classifies a failed attempt. Throws when the call must stop (caller abort, call timeout,
   * non-retryable answer, attempts exhausted); returns when another attempt should be made.
   */
  private attemptFailed(call: CallState, lease: Lease, err: unknown): void {
    if (call.scope?.aborted) throw this.abortedError(call);
    const failure =
      lease.attempt.cause === 'timeout' ? attemptTimeoutError(lease.backend, lease.timeoutMs, err) : attemptError(lease.backend, err);
    if (failure.isRetryable && failure.code !== 'BACKEND_BUSY') {
      lease.state.health.recordFailure(this.now(), this.cooldownPolicy, this.cappedRetryAfter(failure));
    }
    if (!failure.isRetryable) throw failure;
    call.failures.push(failure);
    if (call.failures.length >= this.retryPolicy.maxAttempts) throw new AllBackendsFailedError(call.req.model, call.failures);
  }

  private midStreamFailure(call: CallState, lease: Lease, err: unknown): Error {
    if (call.scope?.aborted) return this.abortedError(call);
    const failure =
      lease.attempt.cause === 'timeout' ? attemptTimeoutError(lease.backend, lease.timeoutMs, err) : attemptError(lease.backend, err);
    if (failure.isRetryable) lease.state.health.recordFailure(this.now(), this.cooldownPolicy, this.cappedRetryAfter(failure));
    return failure;
  }

  private cappedRetryAfter(failure: ProviderError): number | undefined {
    return failure.retryAfterMs === undefined ? undefined : Math.min(failure.retryAfterMs, this.retryPolicy.maxRetryAfterMs);
  }

  private abortedError(call: CallState): CallAbortedError {
    const model = JSON.stringify(call.req.model);
    return call.scope?.cause === 'timeout'
      ? new CallAbortedError('timeout', `Call to model ${model} timed out after ${call.timeoutMs} ms`)
      : new CallAbortedError('aborted', `Call to model ${model} was aborted by the caller`);
  }

  /**
   * Picks the backend for the next attempt and waits as needed (backoff, Retry-After, rate window,
   * concurrency slot). Failing over to a backend not yet tried in this call is immediate; trying one
   * again waits the backoff.
   */
  private async acquireLease(call: CallState): Promise<Lease> {
    const tokens = this.needsTokenCount(call) ? this.budgetTokens(call) : 0;
    let backoffServed = false;
    let waitedFor: Backend | undefined;
    for (;;) {
      if (call.scope?.aborted) throw this.abortedError(call);
      const now = this.now();
      const pick = this.pick(call, tokens, now, waitedFor);
      let wait = pick.waitMs;
      if (!backoffServed && call.tried.has(pick.backend)) {
        wait = Math.max(wait, backoffDelayMs(call.failures.length, this.retryPolicy, this.random));
      }
      backoffServed = true;
      if (wait > 0) {
        if (call.deadline !== undefined && now + wait > call.deadline) {
          throw new CallAbortedError(
            'timeout',
            `Call to model ${JSON.stringify(call.req.model)} cannot finish within its timeout of ${call.req.timeoutMs} ms: ` +
              `${backendLabel(pick.backend)} is available again in ${Math.ceil(wait)} ms` + earlierFailures(call),
          );
        }
        // Without a timeout of its own, a call waits no longer than one attempt on that backend may take:
        // a long Retry-After is answered at once (with when to come back), not slept through.
        const attemptMs = this.attemptTimeoutOf(pick.backend);
        if (call.deadline === undefined && wait > attemptMs) throw waitTooLong(pick.backend, wait, attemptMs, earlierFailures(call));
        try {
          await this.sleep(wait, call.scope?.signal);
        } catch (err) {
          if (call.scope?.aborted) throw this.abortedError(call);
          throw err;
        }
        waitedFor = pick.backend;
        continue;
      }
      return this.takeLease(call, pick.backend, tokens, now);
    }
  }

  /** Timeout of one attempt: the router's limit for the backend, else the backend's own, else the default. */
  private attemptTimeoutOf(backend: Backend): number {
    const own = backend.timeoutMs;
    const fromBackend = typeof own === 'number' && Number.isFinite(own) && own > 0 ? own : undefined;
    return this.stateOf(backend).timeoutMs ?? fromBackend ?? this.defaultTimeoutMs;
  }

  private needsTokenCount(call: CallState): boolean {
    if (call.req.threadId !== undefined) return true;
    return call.order.some((b) => this.states.get(b)?.tpm !== undefined);
  }

  /** The first usable backend from the cursor on; if none is usable now, the one usable soonest. */
  private pick(call: CallState, tokens: number, now: number, waitedFor: Backend | undefined): { backend: Backend; waitMs: number } {
    const n = call.order.length;
    const start = call.cursor + 1;
    let best: { backend: Backend; waitMs: number } | undefined;
    let bestCooling: { backend: Backend; waitMs: number } | undefined;
    for (let i = 0; i < n; i++) {
      const backend = call.order[(start + i) % n]!;
      const state = this.stateOf(backend);
      const retryWait = backend === waitedFor ? 0 : state.health.retryAfterRemaining(now);
      const tpmWait = state.tpm ? state.tpm.waitMs(tokens, now) : 0;
      const waitMs = Math.max(retryWait, tpmWait);
      if (state.health.isCooling(now)) {
        if (!bestCooling || waitMs < bestCooling.waitMs) bestCooling = { backend, waitMs };
        continue;
      }
      if (waitMs === 0) return { backend, waitMs };
      if (!best || waitMs < best.waitMs) best = { backend, waitMs };
    }
    return (best ?? bestCooling)!;
  }

  private async takeLease(call: CallState, backend: Backend, tokens: number, now: number): Promise<Lease> {
    const state = this.stateOf(backend);
    call.cursor = call.order.indexOf(backend);
    call.tried.add(backend);
    const tpmEntry = state.tpm?.add(tokens, now);
    if (state.limiter) {
      try {
        await state.limiter.acquire(call.scope?.signal);
      } catch (err) {
        if (tpmEntry) state.tpm!.adjust(tpmEntry, 0);
        if (call.scope?.aborted) throw this.abortedError(call);
        const failure = attemptError(backend, err);
        call.failures.push(failure);
        if (call.failures.length >= this.retryPolicy.maxAttempts) throw new AllBackendsFailedError(call.req.model, call.failures);
        return this.acquireLease(call);
      }
    }
    state.inFlight++;
    mirrorLoad(backend, state.inFlight);
    const timeoutMs = this.attemptTimeoutOf(backend);
    const attempt = new AbortScope(call.scope, timeoutMs, { idle: call.streaming });
    let ended = false;
    return {
      backend,
      state,
      attempt,
      timeoutMs,
      tpmEntry,
      end: () => {
        if (ended) return;
        ended = true;
        attempt.dispose();
        state.inFlight--;
        mirrorLoad(backend, state.inFlight);
        state.limiter?.release();
      },
    };
  }

  /** The attempt's `signal` is made only when read: the built-in HTTP adapters listen to the attempt scope itself. */
  private backendRequest(req: CompletionRequest, attempt: AbortScope): BackendRequest {
    const out: BackendRequest = withAttemptScope({ model: req.model, messages: req.messages }, attempt);
    if (req.maxTokens !== undefined) out.maxTokens = req.maxTokens;
    if (req.temperature !== undefined) out.temperature = req.temperature;
    if (req.topP !== undefined) out.topP = req.topP;
    if (req.stop !== undefined) out.stop = req.stop;
    if (req.tools !== undefined) out.tools = req.tools;
    if (req.toolChoice !== undefined) out.toolChoice = req.toolChoice;
    return out;
  }
}

function defaultPromptEstimate(messages: ChatMessage[], request: CompletionRequest): number {
  const options = { model: request.model };
  return estimateTokens(messages, options) + estimateToolsTokens(request.tools, options);
}

/** What a stream has delivered so far, across its attempts. */
interface StreamProgress {
  meter: OutputMeter;
  /** The backend that delivered text, once one has: failover stops, and the call will be charged. */
  servedBy: Backend | undefined;
}

/** How one attempt of a stream ended. */
type AttemptEnd =
  | { kind: 'answered'; finish: Extract<StreamChunk, { type: 'finish' }> | undefined; reported: unknown }
  | { kind: 'retry' }
  | { kind: 'cut'; error: ProviderError };

/** The ledger and reservation of a call (no ledger: the call has no thread). */
interface Hold {
  ledger: BudgetLedger | undefined;
  reservation: Reservation | undefined;
}

function earlierFailures(call: CallState): string {
  return call.failures.length ? `; earlier failures: ${call.failures.map((f) => f.message).join('; ')}` : '';
}

function mirrorLoad(backend: Backend, load: number): void {
  try {
    backend.load = load;
  } catch {
    // a backend exposing `load` as a read-only getter keeps its own count
  }
}

function assertBackend(field: string, backend: unknown): asserts backend is Backend {
  if (backend === null || typeof backend !== 'object') throw new ValidationError(field, backend, 'must be a Backend object');
  const b = backend as Partial<Backend>;
  if (typeof b.name !== 'string' || b.name === '') throw new ValidationError(`${field}.name`, b.name, 'must be a non-empty string');
  if (typeof b.servesModel !== 'function') throw new ValidationError(`${field}.servesModel`, b.servesModel, 'must be a function');
  if (typeof b.complete !== 'function') throw new ValidationError(`${field}.complete`, b.complete, 'must be a function');
}

function assertLedger(ledger: unknown): void {
  const l = ledger as Partial<BudgetLedger> | null;
  if (!l || typeof l !== 'object' || typeof l.reserve !== 'function' || typeof l.settle !== 'function' || typeof l.release !== 'function') {
    throw new ValidationError('ledger', ledger, 'must be a BudgetLedger (reserve, settle, release, usage, ...)');
  }
}

function assertIntegerAtLeast(field: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ValidationError(field, value, `must be an integer >= ${min}`);
  }
}

function assertPositiveMs(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2_147_483_647) {
    throw new ValidationError(field, value, 'must be a number of milliseconds > 0 (at most 2147483647)');
  }
}

function optionalFunction<F>(field: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new ValidationError(field, value, 'must be a function');
  return value;
}
