import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { BudgetLedger, ThreadUsage } from '../budget/types.js';
import { ValidationError } from '../core/errors.js';
import type { Metadata } from '../core/types.js';
import { assertPositiveInteger } from '../core/validate.js';
import { AgentCalls } from './agent-calls.js';
import { AgentRegistry } from './agent-registry.js';
import { PumpClosedError, QueueFullError } from './errors.js';
import { Fifo } from '../core/fifo.js';
import { toError } from './handler-outcome.js';
import { PumpCounters } from './pump-counters.js';
import { PumpEvents } from './pump-events.js';
import { ledgerOf, resolvePumpOptions, validateStartOptions, type MessagePumpOptions, type PumpSettings } from './pump-options.js';
import { ThreadDriver } from './thread-driver.js';
import { ThreadEnder } from './thread-ending.js';
import { ThreadState, type ThreadEnding } from './thread-state.js';
import type {
  AgentDefinition,
  BudgetWarning,
  PumpCompletion,
  PumpStats,
  StartOptions,
  ThreadEvent,
  ThreadHandle,
  ThreadResult,
} from './types.js';

export type { MessagePumpOptions } from './pump-options.js';

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
 */export class MessagePump<R extends PumpCompletion = PumpCompletion> {
  private readonly settings: PumpSettings<R>;
  private readonly agents = new AgentRegistry();
  private readonly counters = new PumpCounters();
  private readonly events: PumpEvents;
  private readonly driver: ThreadDriver<R>;
  private readonly ender: ThreadEnder;
  private readonly threads = new Map<string, ThreadState>();
  private readonly queue = new Fifo<ThreadState>();
  private readonly startWaiters = new Fifo<{ resolve: () => void; reject: (err: Error) => void }>();
  private idleWaiters: (() => void)[] = [];
  private active = 0;
  private closed = false;

  constructor(options: MessagePumpOptions<R> = {}) {
    this.settings = resolvePumpOptions(options);
    this.events = new PumpEvents(this.settings.logger);
    const calls = new AgentCalls<R>(this.settings.router, this.counters, this.events);
    this.driver = new ThreadDriver<R>(this.agents, this.settings, this.counters, calls);
    this.ender = new ThreadEnder(this.settings.abortGraceMs, this.counters, this.events);
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
    const { metadata, maxTokens } = validateStartOptions(options, this.currentLedger);
    const { maxConcurrentThreads, maxQueue, onFull } = this.settings;
    for (;;) {
      if (this.closed) throw new PumpClosedError('The message pump closed while start() was waiting for room');
      if (this.active < maxConcurrentThreads && this.queue.length === 0) {
        const t = this.createThread(agent, payload, metadata, maxTokens);
        this.launch(t);
        return { threadId: t.id, done: t.done };
      }
      if (this.queue.length < maxQueue) {
        const t = this.createThread(agent, payload, metadata, maxTokens);
        this.queue.push(t);
        return { threadId: t.id, done: t.done };
      }
      if (onFull === 'reject') {
        throw new QueueFullError(
          `The pump's inbound queue is full (${maxQueue} threads queued, ${this.active} running); ` +
            "retry later, raise maxQueue, or use onFull: 'wait'",
        );
      }
      if (this.startWaiters.length >= maxQueue) {
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
    return this.events.on(event, listener);
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
      runningSteps: this.counters.runningSteps,
      waitingForAgent: this.counters.waitingForAgent,
      inFlightCalls: this.counters.inFlightCalls,
      timers: this.counters.timers,
      listeners: this.events.listenerCount,
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
      this.counters.timers++;
      timer = setTimeout(() => {
        timer = undefined;
        this.counters.timers--;
        this.cancelAll(new PumpClosedError(`The message pump did not drain within ${timeoutMs} ms and cancelled the rest`));
      }, timeoutMs);
    }
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (timer !== undefined) {
      clearTimeout(timer);
      this.counters.timers--;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Threads: queueing, admission, ending

  /** The ledger a thread starting now uses: `options.ledger`, else the router's current one. */
  private readonly currentLedger = (): BudgetLedger | undefined => this.settings.fixedLedger ?? ledgerOf(this.settings.router);

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
      ending = await this.driver.drive(t);
    } catch (err) {
      ending = { status: 'failed', error: toError(err) };
    }
    await this.finish(t, ending);
  }

  /** Ends a thread: waits for its aborted calls, ends its budget, resolves and emits its result. */
  private async finish(t: ThreadState, ending: ThreadEnding): Promise<void> {
    const usage: ThreadUsage | undefined = await this.ender.endBudget(t);
    this.threads.delete(t.id);
    if (t.launched) this.active--;
    const result: ThreadResult = this.ender.result(t, ending, usage);
    this.events.emitThread(result);
    t.resolve(result);
    this.admit();
  }

  /** Starts queued threads while there are free slots, and wakes a `start()` waiting for room. */
  private admit(): void {
    const { maxConcurrentThreads, maxQueue } = this.settings;
    while (this.active < maxConcurrentThreads && this.queue.length > 0) this.launch(this.queue.shift()!);
    if (this.startWaiters.length > 0 && this.queue.length < maxQueue) this.startWaiters.shift()!.resolve();
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
}
