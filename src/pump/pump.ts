import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { BudgetLedger, ThreadUsage } from '../budget/types.js';
import { BudgetExhaustedError, CallAbortedError, ConfigError, ValidationError } from '../core/errors.js';
import type { CompletionRequest, Metadata } from '../core/types.js';
import { assertPositiveInteger, assertPositiveTokens } from '../core/validate.js';
import { AgentRegistry, type RegisteredAgent } from './agent-registry.js';
import { createBudgetWarning } from './budget-warning.js';
import { HandlerFailedError, HandlerTimeoutError, MessageRejectedError, PumpClosedError, QueueFullError } from './errors.js';
import { Fifo } from './fifo.js';
import { ThreadState, type StepOutcome, type ThreadEnding } from './thread-state.js';
import {
  EXTERNAL_SENDER,
  type AgentCompletionRequest,
  type AgentDefinition,
  type BudgetWarning,
  type Completer,
  type HandlerContext,
  type PumpCompletion,
  type PumpLogger,
  type PumpStats,
  type StartOptions,
  type ThreadEvent,
  type ThreadHandle,
  type ThreadResult,
} from './types.js';

/** Options of {@link MessagePump}. */
export interface MessagePumpOptions<R extends PumpCompletion = PumpCompletion> {
  /** Serves `ctx.complete()` (an `LLMRouter`). Without it, handlers cannot make LLM calls. */
  router?: Completer<R>;
  /**
   * Where thread budgets live: the pump sets a thread's `maxTokens` here and ends the thread here.
   * Must be the ledger the router charges. Default: `router.ledger` when the router exposes one (read
   * when each thread starts, so a router following the global registry stays in step).
   */
  ledger?: BudgetLedger;
  /** Threads running at once. Default 256. */
  maxConcurrentThreads?: number;
  /** Threads accepted but waiting for a running slot. Default 1024. */
  maxQueue?: number;
  /**
   * When the queue is full, `start()` waits for room (`'wait'`, default; at most `maxQueue` callers
   * wait, further ones are refused) or rejects at once with `QueueFullError` (`'reject'`).
   */
  onFull?: 'wait' | 'reject';
  /** Longest call chain (callers waiting for a response) in a thread. Default 32. */
  maxDepth?: number;
  /** Most handler invocations in one thread (stops ping-pong loops). Default 1000. */
  maxSteps?: number;
  /** Default per-step handler timeout in ms (agents may set their own). Default 60 000. */
  handlerTimeoutMs?: number;
  /**
   * After a step ends (or times out) its LLM calls are aborted; the pump waits up to this long for them
   * to release their reservations before ending the thread's budget. Default 5 000.
   */
  abortGraceMs?: number;
  /** Receives a debug line per ended thread, and warnings. Default: silent. */
  logger?: PumpLogger;
}

const MAX_LISTENERS = 1024;
const PUMP_OPTION_KEYS = [
  'router', 'ledger', 'maxConcurrentThreads', 'maxQueue', 'onFull', 'maxDepth', 'maxSteps', 'handlerTimeoutMs',
  'abortGraceMs', 'logger',
];
const START_OPTION_KEYS = ['metadata', 'maxTokens'];
const SILENT: PumpLogger = { debug() {} };

/**
 * A multi-agent message pump whose threads own their budgets.
 *
 * Agents are registered by name with a zod schema, the peers they may call, a timeout and a
 * concurrency limit. A thread starts when a message enters from outside; each step delivers one
 * message to one agent. A handler returns `{ to, payload }` to call a declared peer (the caller is
 * pushed on the thread's call stack), `{ respond: payload }` to answer its caller (the stack pops and
 * the caller receives the payload as a `kind: 'response'` delivery from the responder), or nothing to
 * end the thread. A `respond` with no caller left ends the thread with that payload as its result.
 *
 * Every LLM call a handler makes through `ctx.complete()` is charged to the thread and attributed to
 * the agent; thresholds it crosses become {@link BudgetWarning}s for that agent's next step. Whatever
 * way a thread ends, its calls are aborted, its budget is ended in the ledger, and its
 * {@link ThreadResult} is resolved, emitted as a `thread` event and logged at debug level.
 *
 * @example
 * ```ts
 * const pump = new MessagePump({ router, maxConcurrentThreads: 64 });
 * pump.register('summarizer', {
 *   schema: z.object({ text: z.string() }),
 *   timeoutMs: 30_000,
 *   handler: async ({ text }, ctx) => {
 *     const r = await ctx.complete({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });
 *     return { respond: r.content };
 *   },
 * });
 * const result = await pump.run('summarizer', { text: '...' }, { maxTokens: 5_000 });
 * // { threadId, status: 'completed', result: '...', usage: { totalTokens: 812, ... }, warnings: [] }
 * ```
 */
export class MessagePump<R extends PumpCompletion = PumpCompletion> {
  private readonly router: Completer<R> | undefined;
  private readonly fixedLedger: BudgetLedger | undefined;
  private readonly maxConcurrentThreads: number;
  private readonly maxQueue: number;
  private readonly onFull: 'wait' | 'reject';
  private readonly maxDepth: number;
  private readonly maxSteps: number;
  private readonly handlerTimeoutMs: number;
  private readonly abortGraceMs: number;
  private readonly logger: PumpLogger;

  private readonly agents = new AgentRegistry();
  private readonly threads = new Map<string, ThreadState>();
  private readonly queue = new Fifo<ThreadState>();
  private readonly startWaiters = new Fifo<{ resolve: () => void; reject: (err: Error) => void }>();
  private readonly threadListeners = new Set<(event: ThreadEvent) => void>();
  private readonly warningListeners = new Set<(warning: BudgetWarning) => void>();
  private idleWaiters: (() => void)[] = [];
  private active = 0;
  private runningSteps = 0;
  private waitingForAgent = 0;
  private inFlight = 0;
  private timers = 0;
  private closed = false;

  constructor(options: MessagePumpOptions<R> = {}) {
    if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
    assertKnownKeys('', options, PUMP_OPTION_KEYS, 'MessagePump option');
    const {
      router,
      maxConcurrentThreads = 256,
      maxQueue = 1024,
      onFull = 'wait',
      maxDepth = 32,
      maxSteps = 1000,
      handlerTimeoutMs = 60_000,
      abortGraceMs = 5_000,
      logger = SILENT,
    } = options;
    if (router !== undefined && (router === null || typeof router.complete !== 'function')) {
      throw new ValidationError('router', router, 'must have a complete(request) method (an LLMRouter)');
    }
    if (options.ledger !== undefined && !isLedger(options.ledger)) {
      throw new ValidationError('ledger', options.ledger, 'must implement BudgetLedger (setBudget, usage, endThread)');
    }
    const routerLedger = ledgerOf(router);
    if (options.ledger !== undefined && routerLedger !== undefined && routerLedger !== options.ledger) {
      throw new ConfigError('ledger', "is not the router's ledger: the pump must end budgets in the ledger the router charges");
    }
    assertPositiveInteger('maxConcurrentThreads', maxConcurrentThreads);
    assertPositiveInteger('maxQueue', maxQueue);
    if (onFull !== 'wait' && onFull !== 'reject') throw new ValidationError('onFull', onFull, 'must be "wait" or "reject"');
    assertPositiveInteger('maxDepth', maxDepth);
    assertPositiveInteger('maxSteps', maxSteps);
    assertPositiveInteger('handlerTimeoutMs', handlerTimeoutMs);
    assertPositiveInteger('abortGraceMs', abortGraceMs);
    if (logger === null || typeof logger !== 'object' || typeof logger.debug !== 'function') {
      throw new ValidationError('logger', logger, 'must be an object with a debug(message, fields) method');
    }
    this.router = router;
    this.fixedLedger = options.ledger;
    this.maxConcurrentThreads = maxConcurrentThreads;
    this.maxQueue = maxQueue;
    this.onFull = onFull;
    this.maxDepth = maxDepth;
    this.maxSteps = maxSteps;
    this.handlerTimeoutMs = handlerTimeoutMs;
    this.abortGraceMs = abortGraceMs;
    this.logger = logger;
  }

  /**
   * Registers an agent. Names start with a letter and use letters, digits, `_ . : -` (at most 64);
   * `external` is reserved. Registering a name twice throws.
   *
   * @example
   * ```ts
   * pump.register('planner', {
   *   schema: z.object({ topic: z.string() }),
   *   peers: ['researcher'],
   *   handler: ({ topic }) => ({ to: 'researcher', payload: { question: topic } }),
   * });
   * ```
   */
  register<S extends z.ZodType>(name: string, definition: AgentDefinition<S, R>): this {
    this.agents.register(name, definition);
    return this;
  }

  /**
   * Starts a thread by delivering `payload` to `agent` from `'external'`. Resolves once the thread is
   * accepted (running or queued); when the queue is full it waits for room, or rejects with
   * `QueueFullError` under `onFull: 'reject'`. Throws for an unknown agent or invalid options; a payload
   * that fails the agent's schema ends the thread `rejected`.
   *
   * @example
   * ```ts
   * const { threadId, done } = await pump.start('planner', { topic: 'tides' }, { maxTokens: 20_000 });
   * const result = await done;
   * ```
   */
  async start(agent: string, payload: unknown, options: StartOptions = {}): Promise<ThreadHandle> {
    if (this.closed) throw new PumpClosedError('The message pump is closed: start() accepts no new threads');
    if (typeof agent !== 'string' || !this.agents.get(agent)) {
      const known = this.agents.names();
      throw new ValidationError('agent', agent, `is not a registered agent (registered: ${known.length ? known.join(', ') : 'none'})`);
    }
    const { metadata, maxTokens } = this.validateStartOptions(options);
    for (;;) {
      if (this.closed) throw new PumpClosedError('The message pump closed while start() was waiting for room');
      if (this.active < this.maxConcurrentThreads && this.queue.length === 0) {
        const t = this.createThread(agent, payload, metadata, maxTokens);
        this.launch(t);
        return { threadId: t.id, done: t.done };
      }
      if (this.queue.length < this.maxQueue) {
        const t = this.createThread(agent, payload, metadata, maxTokens);
        this.queue.push(t);
        return { threadId: t.id, done: t.done };
      }
      if (this.onFull === 'reject') {
        throw new QueueFullError(
          `The pump's inbound queue is full (${this.maxQueue} threads queued, ${this.active} running); ` +
            "retry later, raise maxQueue, or use onFull: 'wait'",
        );
      }
      if (this.startWaiters.length >= this.maxQueue) {
        throw new QueueFullError(
          `The pump's inbound queue is full and ${this.startWaiters.length} start() calls are already waiting for room`,
        );
      }
      await new Promise<void>((resolve, reject) => this.startWaiters.push({ resolve, reject }));
    }
  }

  /**
   * Starts a thread and waits for it to end. Never rejects for a handler's failure: the result's
   * `status` and `error` say what happened.
   *
   * @example
   * ```ts
   * const r = await pump.run('planner', { topic: 'tides' });
   * if (r.status !== 'completed') console.error(r.status, r.error?.message);
   * ```
   */
  async run(agent: string, payload: unknown, options: StartOptions = {}): Promise<ThreadResult> {
    return (await this.start(agent, payload, options)).done;
  }

  /**
   * Subscribes to `thread` events (one per ended thread) or `warning` events (one per budget warning).
   * Returns the unsubscribe function. Listener errors are logged, never thrown into the pump.
   *
   * @example
   * ```ts
   * const off = pump.on('thread', (e) => console.log(e.threadId, e.status, e.usage?.totalTokens));
   * off();
   * ```
   */
  on(event: 'thread', listener: (event: ThreadEvent) => void): () => void;
  on(event: 'warning', listener: (warning: BudgetWarning) => void): () => void;
  on(event: 'thread' | 'warning', listener: ((event: ThreadEvent) => void) | ((warning: BudgetWarning) => void)): () => void {
    if (event !== 'thread' && event !== 'warning') throw new ValidationError('event', event, 'must be "thread" or "warning"');
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    const set = (event === 'thread' ? this.threadListeners : this.warningListeners) as Set<typeof listener>;
    if (set.size >= MAX_LISTENERS) throw new ValidationError('listener', set.size, `at most ${MAX_LISTENERS} ${event} listeners`);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * What the pump holds right now. When idle every count is zero except `listeners` and `agents`.
   *
   * @example
   * ```ts
   * pump.stats(); // { activeThreads: 0, queuedThreads: 0, threads: 0, timers: 0, inFlightCalls: 0, ... }
   * ```
   */
  stats(): PumpStats {
    return {
      activeThreads: this.active,
      queuedThreads: this.queue.length,
      waitingStarts: this.startWaiters.length,
      threads: this.threads.size,
      runningSteps: this.runningSteps,
      waitingForAgent: this.waitingForAgent,
      inFlightCalls: this.inFlight,
      timers: this.timers,
      listeners: this.threadListeners.size + this.warningListeners.size,
      agents: this.agents.size,
    };
  }

  /**
   * Stops accepting threads and rejects `start()` calls waiting for room. `'drain'` (default) lets
   * running and queued threads finish; with `timeoutMs`, whatever is left then is cancelled.
   * `'cancel'` ends every thread now with status `failed` and a `PumpClosedError` (their LLM calls are
   * aborted and their budgets ended). Resolves when no thread is left. Does not close the router or
   * the ledger.
   *
   * @example
   * ```ts
   * await pump.close({ timeoutMs: 10_000 });
   * ```
   */
  async close(options: { mode?: 'drain' | 'cancel'; timeoutMs?: number } = {}): Promise<void> {
    const { mode = 'drain', timeoutMs } = options ?? {};
    if (mode !== 'drain' && mode !== 'cancel') throw new ValidationError('mode', mode, 'must be "drain" or "cancel"');
    if (timeoutMs !== undefined) assertPositiveInteger('timeoutMs', timeoutMs);
    this.closed = true;
    for (const waiter of this.startWaiters.drain()) {
      waiter.reject(new PumpClosedError('The message pump closed while start() was waiting for room'));
    }
    if (mode === 'cancel') this.cancelAll(new PumpClosedError('The message pump was closed with mode "cancel"'));
    if (this.threads.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      this.timers++;
      timer = setTimeout(() => {
        timer = undefined;
        this.timers--;
        this.cancelAll(new PumpClosedError(`The message pump did not drain within ${timeoutMs} ms and cancelled the rest`));
      }, timeoutMs);
    }
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers--;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Threads

  private validateStartOptions(options: StartOptions): { metadata: Readonly<Metadata>; maxTokens: number | undefined } {
    if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
    assertKnownKeys('options.', options, START_OPTION_KEYS, 'start() option');
    const { metadata, maxTokens } = options;
    if (maxTokens !== undefined) {
      assertPositiveTokens('options.maxTokens', maxTokens);
      if (!this.currentLedger()) throw new ConfigError('options.maxTokens', 'needs a budget ledger: pass new MessagePump({ ledger }) or a router with one');
    }
    if (metadata === undefined) return { metadata: NO_METADATA, maxTokens };
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new ValidationError('options.metadata', metadata, 'must be an object of strings, numbers, booleans or nulls');
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new ValidationError(`options.metadata.${key}`, value, 'must be a string, number, boolean or null');
      }
    }
    return { metadata: Object.freeze({ ...metadata }), maxTokens };
  }

  private currentLedger(): BudgetLedger | undefined {
    return this.fixedLedger ?? ledgerOf(this.router);
  }

  private createThread(agent: string, payload: unknown, metadata: Readonly<Metadata>, maxTokens: number | undefined): ThreadState {
    const t = new ThreadState(randomUUID(), agent, payload, metadata, maxTokens, this.currentLedger());
    this.threads.set(t.id, t);
    return t;
  }

  private launch(t: ThreadState): void {
    this.active++;
    t.launched = true;
    void this.runThread(t);
  }

  private async runThread(t: ThreadState): Promise<void> {
    let ending: ThreadEnding;
    try {
      ending = await this.drive(t);
    } catch (err) {
      ending = { status: 'failed', error: toError(err) };
    }
    await this.finish(t, ending);
  }

  /** Delivers messages until the thread ends. */
  private async drive(t: ThreadState): Promise<ThreadEnding> {
    const initial = t.initial!;
    t.initial = undefined;
    if (t.maxTokens !== undefined && t.ledger) await t.ledger.setBudget(t.id, t.maxTokens);
    let to = initial.agent;
    let from = EXTERNAL_SENDER;
    let payload = initial.payload;
    let kind: 'request' | 'response' = 'request';
    for (;;) {
      if (t.cancelReason) return { status: 'failed', error: t.cancelReason };
      const agent = this.agents.get(to)!;
      const parsed = agent.schema.safeParse(payload);
      if (!parsed.success) return { status: 'rejected', error: schemaRejection(agent.name, from, kind, parsed.error.issues) };
      if (t.steps >= this.maxSteps) {
        return rejected(agent.name, from, 'steps', `Thread ${t.id} reached maxSteps (${this.maxSteps}) delivering to agent ${q(agent.name)} from ${q(from)}; agents may be looping`);
      }
      t.steps++;
      const outcome = await this.step(t, agent, from, kind, parsed.data);
      if (outcome.kind === 'end') return outcome;
      const value = outcome.value;
      if (value === undefined || value === null) return { status: 'completed' };
      const route = this.route(t, agent, value);
      if ('status' in route) return route;
      if (route.to === undefined) return { status: 'completed', result: route.payload };
      from = agent.name;
      to = route.to;
      payload = route.payload;
      kind = route.kind;
    }
  }

  /** Interprets a handler's result: the next delivery, or how the thread ends. */
  private route(
    t: ThreadState,
    agent: RegisteredAgent,
    value: unknown,
  ): ThreadEnding | { to: string | undefined; payload: unknown; kind: 'request' | 'response' } {
    const name = agent.name;
    if (typeof value !== 'object' || value === null) return invalidResult(name, value);
    if ('respond' in value) {
      const extra = extraKeys(value, 'respond', 'respond');
      if (extra) return invalidResult(name, value, extra);
      const caller = t.stack.pop();
      return { to: caller, payload: (value as { respond: unknown }).respond, kind: 'response' };
    }
    if (!('to' in value)) return invalidResult(name, value);
    const extra = extraKeys(value, 'to', 'payload');
    if (extra) return invalidResult(name, value, extra);
    const target = (value as { to: unknown }).to;
    if (typeof target !== 'string') {
      return rejected(name, name, 'invalid_result', `Agent ${q(name)} returned { to } that is not an agent name (got ${typeof target})`);
    }
    if (!agent.peers.has(target)) {
      const declared = agent.peers.size ? [...agent.peers].join(', ') : 'none';
      return rejected(name, name, 'undeclared_peer', `Agent ${q(name)} may not send to ${q(target)}: not one of its declared peers (${declared})`);
    }
    if (!this.agents.get(target)) {
      return rejected(name, name, 'unknown_agent', `Agent ${q(name)} sent to ${q(target)}, which is not a registered agent`);
    }
    if (t.stack.length >= this.maxDepth) {
      const tail = [...t.stack.slice(-6), name, target].join(' -> ');
      return rejected(
        name,
        name,
        'depth',
        `Thread ${t.id}: agent ${q(name)} sending to ${q(target)} would exceed maxDepth (${this.maxDepth} callers waiting): ...${tail}`,
      );
    }
    t.stack.push(name);
    return { to: target, payload: (value as { payload?: unknown }).payload, kind: 'request' };
  }

  /** Runs one step once the agent has a free slot. */
  private step(t: ThreadState, agent: RegisteredAgent, from: string, kind: 'request' | 'response', payload: unknown): StepOutcome | Promise<StepOutcome> {
    const limiter = agent.limiter;
    if (!limiter || limiter.tryAcquire()) return this.invoke(t, agent, from, kind, payload);
    this.waitingForAgent++;
    return new Promise<StepOutcome>((resolve) => {
      const withdraw = limiter.wait(() => {
        this.waitingForAgent--;
        t.interrupt = undefined;
        if (t.cancelReason) {
          limiter.release();
          resolve({ kind: 'end', status: 'failed', error: t.cancelReason });
        } else {
          resolve(this.invoke(t, agent, from, kind, payload));
        }
      });
      t.interrupt = (outcome) => {
        withdraw();
        this.waitingForAgent--;
        t.interrupt = undefined;
        resolve(outcome);
      };
    });
  }

  /** Calls the handler (slot held); bounds it by the agent's timeout if it is asynchronous. */
  private invoke(t: ThreadState, agent: RegisteredAgent, from: string, kind: 'request' | 'response', payload: unknown): StepOutcome | Promise<StepOutcome> {
    const step = new Step();
    const ctx = this.context(t, agent, step, from, kind);
    this.runningSteps++;
    let value: unknown;
    try {
      value = agent.handler(payload, ctx);
    } catch (err) {
      return this.endStep(agent, step, handlerError(agent.name, err));
    }
    if (!isThenable(value)) return this.endStep(agent, step, { kind: 'ok', value });
    const timeoutMs = agent.timeoutMs ?? this.handlerTimeoutMs;
    return new Promise<StepOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: StepOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.timers--;
        t.interrupt = undefined;
        resolve(this.endStep(agent, step, outcome));
      };
      this.timers++;
      const timer = setTimeout(
        () => settle({ kind: 'end', status: 'timed_out', error: new HandlerTimeoutError(agent.name, t.id, timeoutMs) }),
        timeoutMs,
      );
      t.interrupt = settle;
      value.then(
        (v) => settle({ kind: 'ok', value: v }),
        (err: unknown) => settle(handlerError(agent.name, err)),
      );
    });
  }

  private endStep(agent: RegisteredAgent, step: Step, outcome: StepOutcome): StepOutcome {
    step.finish(outcome.kind === 'end' ? outcome.error : undefined);
    this.runningSteps--;
    agent.limiter?.release();
    return outcome;
  }

  /** The frozen per-delivery context. */
  private context(t: ThreadState, agent: RegisteredAgent, step: Step, from: string, kind: 'request' | 'response'): HandlerContext<R> {
    return new DeliveryContext<R>(
      t,
      agent.name,
      from,
      kind,
      step,
      (): Promise<ThreadUsage | undefined> => (t.ledger ? t.ledger.usage(t.id) : Promise.resolve(undefined)),
      (request: AgentCompletionRequest): Promise<R> => this.complete(t, agent, step, request),
    );
  }

  /** `ctx.complete()`: binds thread, agent, metadata and the step's signal; turns crossings into warnings. */
  private complete(t: ThreadState, agent: RegisteredAgent, step: Step, request: AgentCompletionRequest): Promise<R> {
    const router = this.router;
    if (!router) return Promise.reject(new ConfigError('router', 'ctx.complete() needs a router: pass new MessagePump({ router })'));
    if (step.done || t.ending) {
      return Promise.reject(
        new CallAbortedError('aborted', `ctx.complete() called after agent ${q(agent.name)} finished its step in thread ${t.id}`),
      );
    }
    if (request === null || typeof request !== 'object') {
      return Promise.reject(new ValidationError('request', request, 'must be a completion request object'));
    }
    const bound = request as CompletionRequest;
    if (bound.threadId !== undefined && bound.threadId !== t.id) {
      return Promise.reject(new ValidationError('request.threadId', bound.threadId, 'is bound by the pump: a handler can only charge its own thread'));
    }
    if (bound.agentId !== undefined && bound.agentId !== agent.name) {
      return Promise.reject(new ValidationError('request.agentId', bound.agentId, 'is bound by the pump: calls are attributed to the calling agent'));
    }
    const signal = request.signal ? AbortSignal.any([request.signal, step.signal]) : step.signal;
    const metadata = request.metadata ? { ...request.metadata, ...t.metadata } : t.metadata;
    let call: Promise<R>;
    try {
      call = router.complete({ ...request, threadId: t.id, agentId: agent.name, metadata, signal });
    } catch (err) {
      return Promise.reject(err);
    }
    this.inFlight++;
    t.inFlight++;
    const settled = (): void => {
      this.inFlight--;
      t.inFlight--;
      if (t.inFlight > 0) return;
      if (t.onDrained) t.onDrained();
      else if (t.ended && t.ledger) this.lateCleanup(t);
    };
    const answer = Promise.resolve(call).then((response) => {
      this.warn(t, agent, response);
      return response;
    });
    answer.then(settled, settled);
    return answer;
  }

  /** Turns the thresholds a call crossed into warnings for the calling agent. */
  private warn(t: ThreadState, agent: RegisteredAgent, response: R): void {
    const crossed = response?.budget?.crossed;
    if (!crossed || crossed.length === 0 || t.ended) return;
    for (const event of crossed) {
      const warning = createBudgetWarning(event, agent.name);
      if (!t.addWarning(agent.name, warning)) return;
      if (agent.onWarning) {
        try {
          agent.onWarning(warning);
        } catch (err) {
          this.logWarn('onWarning hook threw', { agent: agent.name, threadId: t.id, error: toError(err).message });
        }
      }
      for (const listener of this.warningListeners) {
        try {
          listener(warning);
        } catch (err) {
          this.logWarn('warning listener threw', { threadId: t.id, error: toError(err).message });
        }
      }
    }
  }

  /** A call that outlived its thread's grace period may have re-created the budget: end it again. */
  private lateCleanup(t: ThreadState): void {
    t.ledger!.endThread(t.id).then(
      () => undefined,
      (err: unknown) => this.logWarn('ledger.endThread failed after a late call', { threadId: t.id, error: toError(err).message }),
    );
  }

  /** Ends a thread: waits for its aborted calls, ends its budget, resolves and emits its result. */
  private async finish(t: ThreadState, ending: ThreadEnding): Promise<void> {
    t.ending = true;
    if (t.inFlight > 0) await this.drainCalls(t);
    let usage: ThreadUsage | undefined;
    if (t.ledger) {
      try {
        usage = await t.ledger.endThread(t.id);
      } catch (err) {
        this.logWarn('ledger.endThread failed', { threadId: t.id, error: toError(err).message });
      }
    }
    t.ended = true;
    this.threads.delete(t.id);
    if (t.launched) this.active--;
    const durationMs = Date.now() - t.startedAt;
    const result: ThreadResult = Object.freeze({
      threadId: t.id,
      status: ending.status,
      ...(ending.result !== undefined ? { result: ending.result } : {}),
      ...(ending.error !== undefined ? { error: ending.error } : {}),
      usage,
      warnings: Object.freeze(t.warnings.slice()),
      steps: t.steps,
      durationMs,
    });
    this.logger.debug('thread ended', {
      threadId: t.id,
      status: ending.status,
      steps: t.steps,
      durationMs,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      totalTokens: usage?.totalTokens,
      maxTokens: usage?.maxTokens,
      requestCount: usage?.requestCount,
      warnings: t.warnings.length,
      ...(ending.error ? { error: ending.error.message } : {}),
    });
    for (const listener of this.threadListeners) {
      try {
        listener(result);
      } catch (err) {
        this.logWarn('thread listener threw', { threadId: t.id, error: toError(err).message });
      }
    }
    t.resolve(result);
    this.admit();
  }

  private drainCalls(t: ThreadState): Promise<void> {
    return new Promise<void>((resolve) => {
      this.timers++;
      const timer = setTimeout(() => {
        this.timers--;
        t.onDrained = undefined;
        this.logWarn('LLM calls still in flight after abortGraceMs; ending the thread anyway', {
          threadId: t.id,
          inFlight: t.inFlight,
          abortGraceMs: this.abortGraceMs,
        });
        resolve();
      }, this.abortGraceMs);
      t.onDrained = () => {
        clearTimeout(timer);
        this.timers--;
        t.onDrained = undefined;
        resolve();
      };
    });
  }

  /** Starts queued threads while there are free slots, and wakes a `start()` waiting for room. */
  private admit(): void {
    while (this.active < this.maxConcurrentThreads && this.queue.length > 0) this.launch(this.queue.shift()!);
    if (this.startWaiters.length > 0 && this.queue.length < this.maxQueue) this.startWaiters.shift()!.resolve();
    if (this.threads.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private cancelAll(error: Error): void {
    for (const t of this.queue.drain()) {
      t.cancelReason = error;
      void this.finish(t, { status: 'failed', error });
    }
    // Mark every thread first: interrupting one frees agent slots that must not start another's step.
    const running = [...this.threads.values()].filter((t) => t.launched && !t.ending);
    for (const t of running) t.cancelReason ??= error;
    for (const t of running) t.interrupt?.({ kind: 'end', status: 'failed', error: t.cancelReason! });
  }

  private logWarn(message: string, fields: Record<string, unknown>): void {
    try {
      (this.logger.warn ?? this.logger.debug).call(this.logger, message, fields);
    } catch {
      // a broken logger must not break the pump
    }
  }
}

/** A handler's context: own, frozen data fields plus bound functions (safe to destructure). */
class DeliveryContext<R extends PumpCompletion> implements HandlerContext<R> {
  readonly threadId: string;
  readonly self: string;
  readonly from: string;
  readonly kind: 'request' | 'response';
  readonly depth: number;
  readonly metadata: Readonly<Metadata>;
  readonly warnings: readonly BudgetWarning[];
  readonly usage: () => Promise<ThreadUsage | undefined>;
  readonly complete: (request: AgentCompletionRequest) => Promise<R>;
  readonly #step: Step;

  constructor(
    t: ThreadState,
    self: string,
    from: string,
    kind: 'request' | 'response',
    step: Step,
    usage: () => Promise<ThreadUsage | undefined>,
    complete: (request: AgentCompletionRequest) => Promise<R>,
  ) {
    this.threadId = t.id;
    this.self = self;
    this.from = from;
    this.kind = kind;
    this.depth = t.stack.length;
    this.metadata = t.metadata;
    this.warnings = t.takeWarnings(self);
    this.usage = usage;
    this.complete = complete;
    this.#step = step;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#step.signal;
  }
}

/** One handler invocation: its abort signal is created on first use and aborted when the step ends. */
class Step {
  done = false;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.done) this.controller.abort(stepEnded());
    }
    return this.controller.signal;
  }

  finish(reason: Error | undefined): void {
    this.done = true;
    this.controller?.abort(reason ?? stepEnded());
  }
}

const NO_METADATA: Readonly<Metadata> = Object.freeze({});

function stepEnded(): Error {
  return new CallAbortedError('aborted', 'The handler step that made this call has ended');
}

/** Throws for a key of `options` not in `known` (catches typos such as `maxConcurency`). */
function assertKnownKeys(prefix: string, options: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ValidationError(prefix + key, (options as Record<string, unknown>)[key], `unknown ${what} (expected one of ${known.join(', ')})`);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

function ledgerOf(router: unknown): BudgetLedger | undefined {
  if (router === null || typeof router !== 'object') return undefined;
  const ledger = (router as { ledger?: unknown }).ledger;
  return isLedger(ledger) ? ledger : undefined;
}

function isLedger(value: unknown): value is BudgetLedger {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.setBudget === 'function' && typeof v.usage === 'function' && typeof v.endThread === 'function';
}

function isBudgetExhausted(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    if (e instanceof BudgetExhaustedError || (e as { code?: unknown }).code === 'BUDGET_EXHAUSTED') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function handlerError(agent: string, err: unknown): StepOutcome {
  if (isBudgetExhausted(err)) return { kind: 'end', status: 'budget_exhausted', error: toError(err) };
  return { kind: 'end', status: 'failed', error: new HandlerFailedError(agent, err) };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function q(name: string): string {
  return JSON.stringify(name);
}

function rejected(agent: string, from: string, reason: MessageRejectedError['reason'], message: string): ThreadEnding {
  return { status: 'rejected', error: new MessageRejectedError({ agent, from, reason, message }) };
}

/** Own keys of `value` other than `a` and `b`, or `undefined` when there are none. */
function extraKeys(value: object, a: string, b: string): string[] | undefined {
  let extra: string[] | undefined;
  for (const key of Object.keys(value)) if (key !== a && key !== b) (extra ??= []).push(key);
  return extra;
}

function invalidResult(agent: string, value: unknown, extraKeys?: string[]): ThreadEnding {
  const detail = extraKeys?.length
    ? `unexpected key${extraKeys.length > 1 ? 's' : ''} ${extraKeys.map(q).join(', ')} (the pump sets the sender)`
    : `got ${Array.isArray(value) ? 'an array' : typeof value}`;
  return rejected(
    agent,
    agent,
    'invalid_result',
    `Agent ${q(agent)} returned an invalid result: expected { to, payload }, { respond } or nothing; ${detail}`,
  );
}

/** A path like `outline[0].title` from a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'symbol') out += `[${key.toString()}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

function schemaRejection(
  agent: string,
  from: string,
  kind: 'request' | 'response',
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): MessageRejectedError {
  const first = issues[0];
  const path = first ? formatPath(first.path) : '(root)';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  return new MessageRejectedError({
    agent,
    from,
    reason: 'schema',
    path,
    message:
      `Agent ${q(agent)} rejected the ${kind} from ${q(from)}: field ${q(path)}: ` +
      `${first?.message ?? 'invalid payload'}${more}`,
  });
}
