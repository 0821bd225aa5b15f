import type { ThreadUsage } from '../budget/types.js';
import { startAgentStepSpan, type AgentStepSpan } from '../telemetry/agent-span.js';
import type { AgentCalls } from './agent-calls.js';
import type { AgentRegistry, RegisteredAgent } from './agent-registry.js';
import { DeliveryContext } from './delivery-context.js';
import { HandlerTimeoutError } from './errors.js';
import { handlerError, isThenable } from './handler-outcome.js';
import { HandlerStep } from './handler-step.js';
import type { PumpCounters } from './pump-counters.js';
import { quote, rejected, schemaRejection } from './rejections.js';
import { routeResult, type RoutingLimits } from './result-routing.js';
import type { StepOutcome, ThreadEnding, ThreadState } from './thread-state.js';
import { EXTERNAL_SENDER, type AgentCompletionRequest, type HandlerContext, type PumpCompletion } from './types.js';

/** The limits the driver enforces (from the pump's options). */
export interface DriverLimits {
  readonly maxSteps: number;
  readonly maxDepth: number;
  readonly handlerTimeoutMs: number;
}

/**
 * Runs a thread's messages: checks each payload against the receiving agent's schema, waits for the
 * agent's slot, calls its handler under its timeout, and follows the result to the next delivery until
 * the thread ends.
 */
export class ThreadDriver<R extends PumpCompletion> implements RoutingLimits {
  readonly maxDepth: number;

  constructor(
    private readonly agents: AgentRegistry,
    private readonly limits: DriverLimits,
    private readonly counters: PumpCounters,
    private readonly calls: AgentCalls<R>,
  ) {
    this.maxDepth = limits.maxDepth;
  }

  isAgent(name: string): boolean {
    return this.agents.get(name) !== undefined;
  }

  /** Delivers messages until the thread ends. */
  async drive(t: ThreadState): Promise<ThreadEnding> {
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
      if (t.steps >= this.limits.maxSteps) {
        return rejected(agent.name, from, 'steps', `Thread ${t.id} reached maxSteps (${this.limits.maxSteps}) delivering to agent ${quote(agent.name)} from ${quote(from)}; agents may be looping`);
      }
      t.steps++;
      const outcome = await this.step(t, agent, from, kind, parsed.data);
      if (outcome.kind === 'end') return outcome;
      const value = outcome.value;
      if (value === undefined || value === null) return { status: 'completed' };
      const route = routeResult(t, agent, value, this);
      if ('status' in route) return route;
      if (route.to === undefined) return { status: 'completed', result: route.payload };
      from = agent.name;
      to = route.to;
      payload = route.payload;
      kind = route.kind;
    }
  }

  /** Runs one step once the agent has a free slot. */
  private step(t: ThreadState, agent: RegisteredAgent, from: string, kind: 'request' | 'response', payload: unknown): StepOutcome | Promise<StepOutcome> {
    const limiter = agent.limiter;
    if (!limiter || limiter.tryAcquire()) return this.invoke(t, agent, from, kind, payload);
    this.counters.waitingForAgent++;
    return new Promise<StepOutcome>((resolve) => {
      const withdraw = limiter.wait(() => {
        this.counters.waitingForAgent--;
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
        this.counters.waitingForAgent--;
        t.interrupt = undefined;
        resolve(outcome);
      };
    });
  }

  /** Calls the handler (slot held); bounds it by the agent's timeout if it is asynchronous. */
  private invoke(t: ThreadState, agent: RegisteredAgent, from: string, kind: 'request' | 'response', payload: unknown): StepOutcome | Promise<StepOutcome> {
    const step = new HandlerStep();
    const ctx = this.context(t, agent, step, from, kind);
    // An `invoke_agent` span per step (inert without an OpenTelemetry SDK); the handler runs inside it, so
    // the spans of its LLM calls are its children.
    const span = startAgentStepSpan({ agentName: agent.name, threadId: t.id, from, kind, step: t.steps });
    this.counters.runningSteps++;
    let value: unknown;
    try {
      value = span.run(() => agent.handler(payload, ctx));
    } catch (err) {
      return this.endStep(agent, step, handlerError(agent.name, err), span);
    }
    if (!isThenable(value)) return this.endStep(agent, step, { kind: 'ok', value }, span);
    const timeoutMs = agent.timeoutMs ?? this.limits.handlerTimeoutMs;
    return new Promise<StepOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: StepOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.counters.timers--;
        t.interrupt = undefined;
        resolve(this.endStep(agent, step, outcome, span));
      };
      this.counters.timers++;
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

  private endStep(agent: RegisteredAgent, step: HandlerStep, outcome: StepOutcome, span: AgentStepSpan): StepOutcome {
    step.finish(outcome.kind === 'end' ? outcome.error : undefined);
    span.end(outcome.kind === 'end' ? outcome.error : undefined);
    this.counters.runningSteps--;
    agent.limiter?.release();
    return outcome;
  }

  /** The frozen per-delivery context. */
  private context(t: ThreadState, agent: RegisteredAgent, step: HandlerStep, from: string, kind: 'request' | 'response'): HandlerContext<R> {
    return new DeliveryContext<R>(
      t,
      agent.name,
      from,
      kind,
      step,
      (): Promise<ThreadUsage | undefined> => (t.ledger ? t.ledger.usage(t.id) : Promise.resolve(undefined)),
      (request: AgentCompletionRequest): Promise<R> => this.calls.complete(t, agent, step, request),
    );
  }
}
