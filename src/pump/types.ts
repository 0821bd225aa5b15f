import type { z } from 'zod';
import type { ThresholdEvent, ThresholdSeverity, ThreadUsage } from '../budget/types.js';
import type { CompletionRequest, LLMResponse, Metadata } from '../core/types.js';

/** How a thread ended. */
export type ThreadStatus = 'completed' | 'failed' | 'timed_out' | 'rejected' | 'budget_exhausted';

/** The sender of a message that entered the pump from outside (via `start()` / `run()`). */
export const EXTERNAL_SENDER = 'external';

/**
 * What `ctx.complete()` needs from a router: `LLMRouter` fits. `budget.crossed` lists the thresholds
 * the call crossed; the pump turns each into a {@link BudgetWarning} for the calling agent.
 */
export interface PumpCompletion extends LLMResponse {
  budget?: { usage?: ThreadUsage | undefined; crossed: readonly ThresholdEvent[] } | undefined;
}

/** Anything with the router's `complete()`. */
export interface Completer<R extends PumpCompletion = PumpCompletion> {
  complete(request: CompletionRequest): Promise<R>;
}

/** A completion request made from a handler: the thread and agent are bound by the pump. */
export type AgentCompletionRequest = Omit<CompletionRequest, 'threadId' | 'agentId'>;

/**
 * Delivered to the agent whose LLM call crossed a budget threshold, before its next step
 * (`ctx.warnings`), and at once to its `onWarning` hook.
 */
export interface BudgetWarning {
  readonly type: 'budget_warning';
  readonly threadId: string;
  /** The agent whose call crossed the threshold. */
  readonly agent: string;
  /** The threshold crossed (75, 90, 95 by default). */
  readonly threshold: number;
  /** Percent of the maximum actually used. */
  readonly percentUsed: number;
  readonly usedTokens: number;
  readonly remainingTokens: number;
  readonly maxTokens: number;
  readonly severity: ThresholdSeverity;
  /** A sentence for humans (and for the agent's prompt). */
  readonly message: string;
}

/**
 * The context of one delivery. A new, frozen object per delivery: `from` is set by the pump, and
 * `complete()` is bound to this thread and agent, so a handler can neither forge its sender nor spend
 * another thread's budget.
 */
export interface HandlerContext<R extends PumpCompletion = PumpCompletion> {
  readonly threadId: string;
  /** Who sent this message: an agent name, or `'external'` for the message that started the thread. */
  readonly from: string;
  /** This agent's name. */
  readonly self: string;
  /** `'request'` for a message sent with `{ to, payload }` or `start()`; `'response'` for a `{ respond }`. */
  readonly kind: 'request' | 'response';
  /** Number of callers waiting for a response (0 for the agent the thread started with). */
  readonly depth: number;
  /** The metadata given to `start()`, attached to every LLM call of the thread. */
  readonly metadata: Readonly<Metadata>;
  /** Budget warnings raised by this agent's earlier calls in this thread, not yet delivered. */
  readonly warnings: readonly BudgetWarning[];
  /** Aborted when the step ends, times out, or the pump cancels the thread. */
  readonly signal: AbortSignal;
  /** The thread's budget usage right now (`undefined` when the thread has no budget yet). */
  usage(): Promise<ThreadUsage | undefined>;
  /** An LLM call charged to this thread and attributed to this agent. */
  complete(request: AgentCompletionRequest): Promise<R>;
}

/**
 * What a handler returns:
 * - `{ to, payload }`: send a request to a declared peer; its eventual `{ respond }` comes back to this
 *   agent as a new delivery with `kind: 'response'` and `from` = the peer.
 * - `{ respond: payload }`: answer the caller; with no caller left, the thread completes with `payload`
 *   as its result.
 * - `undefined` / `null`: the thread ends, completed, without a result.
 */
export type HandlerResult = { to: string; payload: unknown } | { respond: unknown } | undefined | null | void;

/** A message handler. `payload` is the schema's parsed output. */
export type AgentHandler<P, R extends PumpCompletion = PumpCompletion> = (
  payload: P,
  ctx: HandlerContext<R>,
) => HandlerResult | Promise<HandlerResult>;

/** How an agent is registered. */
export interface AgentDefinition<S extends z.ZodType, R extends PumpCompletion = PumpCompletion> {
  /** Validates every payload delivered to the agent (requests and responses). */
  schema: S;
  /** Agents this one may send requests to. Default: none. */
  peers?: readonly string[];
  /** Milliseconds one step may take. Default: the pump's `handlerTimeoutMs`. */
  timeoutMs?: number;
  /** Most steps of this agent running at once, across threads. Default: unlimited. */
  concurrency?: number;
  handler: AgentHandler<z.output<S>, R>;
  /** Called as soon as one of this agent's calls crosses a threshold (errors are logged, not thrown). */
  onWarning?: (warning: BudgetWarning) => void;
}

/** How a thread ended, resolved to whoever awaits it and emitted as the `thread` event. */
export interface ThreadResult {
  readonly threadId: string;
  readonly status: ThreadStatus;
  /** The payload of the final `{ respond }`, when the thread completed with one. */
  readonly result?: unknown;
  /** Why the thread did not complete. */
  readonly error?: Error;
  /** The thread's final budget usage (`undefined` if it never had a budget). */
  readonly usage: ThreadUsage | undefined;
  /** Every warning raised in the thread, in order. */
  readonly warnings: readonly BudgetWarning[];
  /** Handler invocations. */
  readonly steps: number;
  readonly durationMs: number;
}

/** The `thread` event: the thread's result. */
export type ThreadEvent = ThreadResult;

/** A started thread. */
export interface ThreadHandle {
  readonly threadId: string;
  /** Resolves (never rejects) when the thread ends. */
  readonly done: Promise<ThreadResult>;
}

/** Options of `pump.start()` / `pump.run()`. */
export interface StartOptions {
  /** Attached to every LLM call of the thread (wins over a handler's own metadata keys). */
  metadata?: Metadata;
  /** The thread's own token budget; default: the ledger's default. */
  maxTokens?: number;
}

/** Receives the pump's log lines. */
export interface PumpLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
}

/** A snapshot of what the pump holds (all zero when it is idle). */
export interface PumpStats {
  /** Threads running. */
  activeThreads: number;
  /** Threads accepted and waiting for a running slot. */
  queuedThreads: number;
  /** `start()` calls waiting for room in the queue. */
  waitingStarts: number;
  /** Entries in the pump's thread table (running + queued). */
  threads: number;
  /** Steps running a handler. */
  runningSteps: number;
  /** Steps waiting for an agent's concurrency slot. */
  waitingForAgent: number;
  /** `ctx.complete()` calls in flight. */
  inFlightCalls: number;
  /** Timers the pump has pending. */
  timers: number;
  /** Event listeners subscribed with `on()`. */
  listeners: number;
  /** Registered agents. */
  agents: number;
}
