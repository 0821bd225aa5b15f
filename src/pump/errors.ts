import { TokenwardenError } from '../core/errors.js';

/** Why the pump refused to deliver a message. */
export type RejectionReason =
  | 'schema'
  | 'unknown_agent'
  | 'undeclared_peer'
  | 'depth'
  | 'steps'
  | 'invalid_result';

/**
 * The pump refused to deliver a message: the payload failed the receiver's schema, the receiver is
 * not a declared peer of the sender (or not registered), the call chain is too deep, the thread took
 * too many steps, or a handler returned something that is not a valid result. The thread ends with
 * status `rejected` and carries this error.
 *
 * @example
 * ```ts
 * const r = await pump.run('writer', { outline: 42 });
 * if (r.error instanceof MessageRejectedError && r.error.reason === 'schema') console.log(r.error.path);
 * ```
 */
export class MessageRejectedError extends TokenwardenError {
  /** The agent that refused the message (or, for routing errors, the agent that sent it). */
  readonly agent: string;
  /** The sender: an agent name or `'external'`. */
  readonly from: string;
  readonly reason: RejectionReason;
  /** For schema failures, the failing field path (`outline[0].title`, `(root)` for the payload itself). */
  readonly path: string | undefined;

  constructor(fields: { agent: string; from: string; reason: RejectionReason; message: string; path?: string }) {
    super('MESSAGE_REJECTED', fields.message);
    this.agent = fields.agent;
    this.from = fields.from;
    this.reason = fields.reason;
    this.path = fields.path;
  }
}

/**
 * A handler did not finish within its timeout. Its `ctx.signal` was aborted, which aborts the LLM calls
 * it still had in flight (and releases their reservations); the thread ends with status `timed_out`.
 */
export class HandlerTimeoutError extends TokenwardenError {
  readonly agent: string;
  readonly timeoutMs: number;

  constructor(agent: string, threadId: string, timeoutMs: number) {
    super('HANDLER_TIMEOUT', `Agent ${JSON.stringify(agent)} timed out after ${timeoutMs} ms in thread ${threadId}`);
    this.agent = agent;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A handler threw (or returned a rejected promise). The original error is `cause`; the thread ends with
 * status `failed`.
 */
export class HandlerFailedError extends TokenwardenError {
  readonly agent: string;

  constructor(agent: string, cause: unknown) {
    super('HANDLER_FAILED', `Agent ${JSON.stringify(agent)} failed: ${describeCause(cause)}`, { cause });
    this.agent = agent;
  }
}

/**
 * `pump.start()` could not queue the thread: the inbound queue is full and the pump was created with
 * `onFull: 'reject'`, or too many callers are already waiting for room.
 */
export class QueueFullError extends TokenwardenError {
  constructor(message: string) {
    super('QUEUE_FULL', message);
  }
}

/** The pump is closed (or closing): it accepts no new threads, and cancelled threads carry this error. */
export class PumpClosedError extends TokenwardenError {
  constructor(message = 'The message pump is closed') {
    super('PUMP_CLOSED', message);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message || cause.name;
  if (typeof cause === 'string') return cause;
  try {
    return `non-error value ${JSON.stringify(cause) ?? String(cause)}`;
  } catch {
    return `non-error value ${Object.prototype.toString.call(cause)}`;
  }
}
