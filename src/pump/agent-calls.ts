import { CallAbortedError, ConfigError, ValidationError } from '../core/errors.js';
import type { CompletionRequest } from '../core/types.js';
import type { RegisteredAgent } from './agent-registry.js';
import { createBudgetWarning } from './budget-warning.js';
import { toError } from './handler-outcome.js';
import type { HandlerStep } from './handler-step.js';
import type { PumpCounters } from './pump-counters.js';
import type { PumpEvents } from './pump-events.js';
import { quote } from './rejections.js';
import type { ThreadState } from './thread-state.js';
import type { AgentCompletionRequest, Completer, PumpCompletion } from './types.js';

/**
 * `ctx.complete()`: a handler's LLM calls through the router, charged to its thread and attributed to
 * its agent, aborted when its step ends. Thresholds a call crossed become budget warnings for the
 * agent's next step (and its `onWarning` hook and the pump's `warning` listeners).
 */
export class AgentCalls<R extends PumpCompletion> {
  constructor(
    private readonly router: Completer<R> | undefined,
    private readonly counters: PumpCounters,
    private readonly events: PumpEvents,
  ) {}

  /** Binds thread, agent, metadata and the step's signal to `request` and sends it to the router. */
  complete(t: ThreadState, agent: RegisteredAgent, step: HandlerStep, request: AgentCompletionRequest): Promise<R> {
    const router = this.router;
    if (!router) return Promise.reject(new ConfigError('router', 'ctx.complete() needs a router: pass new MessagePump({ router })'));
    const refusal = refuseCall(t, agent, step, request);
    if (refusal) return Promise.reject(refusal);
    const signal = request.signal ? AbortSignal.any([request.signal, step.signal]) : step.signal;
    const metadata = request.metadata ? { ...request.metadata, ...t.metadata } : t.metadata;
    let call: Promise<R>;
    try {
      call = router.complete({ ...request, threadId: t.id, agentId: agent.name, metadata, signal });
    } catch (err) {
      return Promise.reject(err);
    }
    this.counters.inFlightCalls++;
    t.inFlight++;
    const settled = (): void => {
      this.counters.inFlightCalls--;
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
          this.events.warn('onWarning hook threw', { agent: agent.name, threadId: t.id, error: toError(err).message });
        }
      }
      this.events.emitWarning(warning, t.id);
    }
  }

  /** A call that outlived its thread's grace period may have re-created the budget: end it again. */
  private lateCleanup(t: ThreadState): void {
    t.ledger!.endThread(t.id).then(
      () => undefined,
      (err: unknown) => this.events.warn('ledger.endThread failed after a late call', { threadId: t.id, error: toError(err).message }),
    );
  }
}

/** Why a handler may not make this call: its step is over, or the request is not its own to make. */
function refuseCall(t: ThreadState, agent: RegisteredAgent, step: HandlerStep, request: unknown): Error | undefined {
  if (step.done || t.ending) {
    return new CallAbortedError('aborted', `ctx.complete() called after agent ${quote(agent.name)} finished its step in thread ${t.id}`);
  }
  if (request === null || typeof request !== 'object') {
    return new ValidationError('request', request, 'must be a completion request object');
  }
  const bound = request as CompletionRequest;
  if (bound.threadId !== undefined && bound.threadId !== t.id) {
    return new ValidationError('request.threadId', bound.threadId, 'is bound by the pump: a handler can only charge its own thread');
  }
  if (bound.agentId !== undefined && bound.agentId !== agent.name) {
    return new ValidationError('request.agentId', bound.agentId, 'is bound by the pump: calls are attributed to the calling agent');
  }
  return undefined;
}
