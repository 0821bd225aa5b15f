import type { BudgetLedger } from '../../src/budget/types.js';
import { CallAbortedError } from '../../src/core/errors.js';
import type { PumpCompletion } from '../../src/pump/types.js';
import type { CompletionRequest } from '../../src/core/types.js';

/**
 * The smallest completer that behaves like the router towards a ledger: reserve the completion cap,
 * wait (abortably), settle to fixed usage, release on failure. Used until/alongside the real LLMRouter.
 */
export class LedgerCompleter {
  readonly calls: CompletionRequest[] = [];

  constructor(
    readonly ledger: BudgetLedger,
    private readonly options: { promptTokens?: number; completionTokens?: number; delayMs?: number; ignoreAbort?: boolean } = {},
  ) {}

  async complete(request: CompletionRequest): Promise<PumpCompletion> {
    this.calls.push(request);
    const prompt = this.options.promptTokens ?? 10;
    const completion = request.maxTokens ?? this.options.completionTokens ?? 10;
    const hold = request.threadId ? await this.ledger.reserve(request.threadId, prompt + completion) : undefined;
    try {
      if (this.options.delayMs !== undefined) await sleep(this.options.delayMs, this.options.ignoreAbort ? undefined : request.signal);
      request.signal?.throwIfAborted?.call(request.signal);
      const settled = hold ? await this.ledger.settle(hold, { promptTokens: prompt, completionTokens: completion }) : undefined;
      return {
        content: 'ok',
        model: request.model,
        usage: { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion },
        finishReason: 'stop',
        budget: settled ? { usage: settled.usage, crossed: settled.crossed } : undefined,
      };
    } catch (err) {
      if (hold) await this.ledger.release(hold);
      throw err;
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CallAbortedError('aborted', 'aborted before sleeping'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CallAbortedError('aborted', 'aborted while sleeping'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A promise with its resolve function, for gating handlers. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Number of active Node timers (setTimeout/setInterval handles). */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
