import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { errorFacts } from './error-facts.js';
import { tokenwardenTracer, tracingInstalled } from './instruments.js';
import { ERROR_TYPE, GEN_AI, GEN_AI_OPERATION, TW } from './semconv.js';

/** One message an agent of the pump handles. */
export interface AgentStepStart {
  agentName: string;
  threadId: string;
  /** Who sent the message (`external` for the one that started the thread). */
  from: string;
  kind: 'request' | 'response';
  /** The thread's step number (1 for the first delivery). */
  step: number;
}

/** The span of one agent step; inert without a tracing SDK. */
export interface AgentStepSpan {
  /** Runs `fn` (the handler) with the step's span active: its LLM calls' spans become children. */
  run<T>(fn: () => T): T;
  /** Ends the span; with `error`, status ERROR and `error.type`. Once. */
  end(error?: unknown): void;
}

const INERT: AgentStepSpan = { run: (fn) => fn(), end: () => undefined };

/**
 * Starts the span of an agent handling one message of a thread: `invoke_agent {agent}`, kind INTERNAL (an
 * in-process agent, as the GenAI agent-span conventions ask), with `gen_ai.agent.name`,
 * `gen_ai.conversation.id` (the thread) and the pump's `tokenwarden.pump.*` attributes.
 *
 * @example
 * ```ts
 * const step = startAgentStepSpan({ agentName: 'planner', threadId, from: 'external', kind: 'request', step: 1 });
 * try { return await step.run(() => handler(payload, ctx)); } finally { step.end(); }
 * ```
 */
export function startAgentStepSpan(s: AgentStepStart): AgentStepSpan {
  if (!tracingInstalled()) return INERT;
  const span = tokenwardenTracer().startSpan(`${GEN_AI_OPERATION.INVOKE_AGENT} ${s.agentName}`, {
    kind: SpanKind.INTERNAL,
    attributes: {
      [GEN_AI.OPERATION_NAME]: GEN_AI_OPERATION.INVOKE_AGENT,
      [GEN_AI.AGENT_NAME]: s.agentName,
      [GEN_AI.CONVERSATION_ID]: s.threadId,
      [TW.PUMP_FROM]: s.from,
      [TW.PUMP_KIND]: s.kind,
      [TW.PUMP_STEP]: s.step,
    },
  });
  return new StepSpan(span);
}

class StepSpan implements AgentStepSpan {
  private ended = false;

  constructor(private readonly span: Span) {}

  run<T>(fn: () => T): T {
    return context.with(trace.setSpan(context.active(), this.span), fn);
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined && this.span.isRecording()) {
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      this.span.setAttribute(ERROR_TYPE, errorFacts(error).errorType);
    }
    this.span.end();
  }
}
