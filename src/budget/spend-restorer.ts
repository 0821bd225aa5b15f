import { LedgerUnavailableError, ValidationError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';
import { assertTokenCount } from '../core/validate.js';
import type { RestoredSpend, ThreadUsage } from './types.js';

/** Reads a thread's recorded spend, e.g. a usage store's `summary({ threadId }).totals`. */
export type RestoreSpend = (threadId: string) => Promise<RestoredSpend | undefined>;

/**
 * The `restore` option of a ledger (memory or Redis): asks it for the spend of a thread that the ledger no
 * longer holds, one restore per thread at a time (concurrent first calls of a thread share one), checks
 * what it returned, and turns its failure into `LedgerUnavailableError`.
 *
 * @example
 * ```ts
 * const restorer = new SpendRestorer(async (id) => (await store.summary({ threadId: id })).totals);
 * const spent = await restorer.restored('thread-1'); // { promptTokens, completionTokens, requestCount } or undefined
 * ```
 */
export class SpendRestorer {
  /** Restores in flight, by thread. */
  private readonly pending = new Map<string, Promise<RestoredSpend | undefined>>();

  constructor(private readonly restore: RestoreSpend) {}

  /** The recorded spend of a thread (`undefined`: none), shared by the calls made while it is read. */
  restored(threadId: string): Promise<RestoredSpend | undefined> {
    let pending = this.pending.get(threadId);
    if (pending === undefined) {
      pending = this.load(threadId).finally(() => this.pending.delete(threadId));
      this.pending.set(threadId, pending);
    }
    return pending;
  }

  private async load(threadId: string): Promise<RestoredSpend | undefined> {
    let spent: RestoredSpend | undefined;
    try {
      spent = await this.restore(threadId);
    } catch (err) {
      // No thread id in the message: it may be an internal (namespaced) id that reaches a client.
      throw new LedgerUnavailableError(`restoring a thread's spend from the usage record failed: ${errorMessage(err)}`, { cause: err });
    }
    if (spent === undefined || spent === null) return undefined;
    return checkedSpend('restore()', spent, 'must resolve to { promptTokens, completionTokens, requestCount } or undefined');
  }
}

/** Checks a recorded spend (`field` names it in errors; `problem` says what a non-object should have been). */
export function checkedSpend(field: string, spent: unknown, problem: string): RestoredSpend {
  if (spent === null || typeof spent !== 'object') throw new ValidationError(field, spent, problem);
  const { promptTokens, completionTokens, requestCount } = spent as Partial<RestoredSpend>;
  assertTokenCount(`${field}.promptTokens`, promptTokens);
  assertTokenCount(`${field}.completionTokens`, completionTokens);
  assertTokenCount(`${field}.requestCount`, requestCount);
  return { promptTokens, completionTokens, requestCount };
}

/**
 * The usage of a thread the ledger does not hold, as recorded: the default maximum, nothing held;
 * `undefined` when nothing was recorded.
 */
export function recordedUsage(spent: RestoredSpend | undefined, maxTokens: number): ThreadUsage | undefined {
  if (spent === undefined || spent.requestCount === 0) return undefined;
  const totalTokens = spent.promptTokens + spent.completionTokens;
  return { ...spent, totalTokens, remaining: Math.max(0, maxTokens - totalTokens), maxTokens, reservedTokens: 0 };
}
