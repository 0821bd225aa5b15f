/**
 * tokenwarden: token and money budgets for multi-agent LLM applications.
 *
 * @example
 * ```ts
 * import { LLMRouter, ThreadBudgetRegistry, UsageTracker } from 'tokenwarden';
 * ```
 * @packageDocumentation
 */
export * from './errors.js';
export type * from './types.js';
export type * from './budget/types.js';
export { DEFAULT_THRESHOLDS } from './budget/types.js';
export { ThreadBudget } from './budget/thread-budget.js';
export {
  ThreadBudgetRegistry,
  getBudgetRegistry,
  configureBudgetRegistry,
  resetBudgetRegistry,
  type ThreadBudgetRegistryOptions,
} from './budget/registry.js';
export { MemoryBudgetLedger, type MemoryBudgetLedgerOptions } from './stores/memory/memory-ledger.js';
export type * from './usage/types.js';
export { eventOrgId, eventUserId } from './usage/types.js';
export { newEventId, eventIdTime } from './usage/event-id.js';
export {
  UsageTracker,
  getUsageTracker,
  resetUsageTracker,
  type RecordInput,
  type UsageTrackerOptions,
} from './usage/tracker.js';
export type * from './stores/usage-store.js';
