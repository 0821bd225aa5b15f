import type { ThreadUsage } from '../budget/types.js';
import type { Metadata } from '../core/types.js';
import type { HandlerStep } from './handler-step.js';
import type { ThreadState } from './thread-state.js';
import type { AgentCompletionRequest, BudgetWarning, HandlerContext, PumpCompletion } from './types.js';

/** A handler's context: own, frozen data fields plus bound functions (safe to destructure). */
export class DeliveryContext<R extends PumpCompletion> implements HandlerContext<R> {
  readonly threadId: string;
  readonly self: string;
  readonly from: string;
  readonly kind: 'request' | 'response';
  readonly depth: number;
  readonly metadata: Readonly<Metadata>;
  readonly warnings: readonly BudgetWarning[];
  readonly usage: () => Promise<ThreadUsage | undefined>;
  readonly complete: (request: AgentCompletionRequest) => Promise<R>;
  readonly #step: HandlerStep;

  constructor(
    t: ThreadState,
    self: string,
    from: string,
    kind: 'request' | 'response',
    step: HandlerStep,
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
