/**
 * tokenwarden: token and money budgets for multi-agent LLM applications.
 *
 * @example
 * ```ts
 * import { LLMRouter, ThreadBudgetRegistry, UsageTracker } from 'tokenwarden';
 * ```
 * @packageDocumentation
 */
export * from './core/errors.js';
export type * from './core/types.js';
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
export { MemoryBudgetLedger, type MemoryBudgetLedgerOptions } from './budget/memory-ledger.js';
export { parseWindow, windowAt, type BudgetWindow, type WindowSpan, type WindowUnit } from './budget/windows.js';
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
export type * from './usage/usage-store.js';
export { OpenAICompatibleBackend, type OpenAICompatibleBackendOptions } from './providers/openai-compatible.js';
export { AnthropicBackend, type AnthropicBackendOptions } from './providers/anthropic.js';
export { MockBackend, type MockBackendOptions, type MockFailure } from './providers/mock.js';
export {
  createBackend,
  PROVIDERS,
  DEFAULT_BASE_URLS,
  type BackendConfig,
  type ProviderName,
} from './server/backend-factory.js';
export { parseRetryAfter } from './providers/http/retry-after.js';
export type { FetchLike } from './providers/http/fetch-exchange.js';
export { parseSse, type SseEvent } from './providers/sse.js';
export type { HttpBackendOptions } from './providers/backend-options.js';
export { estimateCost, estimateCostNanos, resolvePrice } from './pricing/estimate.js';
export { PriceTable, type PriceTableOptions } from './pricing/price-table.js';
export { getPriceTable, configurePrices, resetPrices } from './pricing/global-prices.js';
export type { ModelPrice, PriceRates, ResolvedPrice, PriceTier, PriceSource, CostUsage } from './pricing/types.js';
export { BUILTIN_PRICES } from './pricing/builtin-prices.js';
export {
  estimateTokens,
  estimateTextTokens,
  estimateToolsTokens,
  tokenProfileForModel,
  type TokenProfile,
  type EstimateTokensOptions,
} from './tokens/estimate.js';
export { MessagePump, type MessagePumpOptions } from './pump/pump.js';
export {
  MessageRejectedError,
  HandlerTimeoutError,
  HandlerFailedError,
  QueueFullError,
  PumpClosedError,
  type RejectionReason,
} from './pump/errors.js';
export { createBudgetWarning } from './pump/budget-warning.js';
export {
  EXTERNAL_SENDER,
  type ThreadStatus,
  type PumpCompletion,
  type Completer,
  type AgentCompletionRequest,
  type BudgetWarning,
  type HandlerContext,
  type HandlerResult,
  type AgentHandler,
  type AgentDefinition,
  type ThreadResult,
  type ThreadEvent,
  type ThreadHandle,
  type StartOptions,
  type PumpLogger,
  type PumpStats,
} from './pump/types.js';
export {
  LLMRouter,
  type LLMRouterOptions,
  type BackendLimits,
  type BackendEntry,
  type RouterResponse,
  type RouterBudgetInfo,
  type RouterCharge,
  type RouterUsageChunk,
  type RouterStreamChunk,
  type EmbeddingRequest,
  type RouterEmbedding,
} from './router/router.js';
export {
  configureRouter,
  parseRouterConfig,
  type RouterConfig,
  type RouterBackendSpec,
  type ConfigureRouterOptions,
} from './server/router-config.js';
export { ROUTING_STRATEGIES, type RoutingStrategy } from './router/strategy.js';
export { DEFAULT_RETRY_POLICY, backoffDelayMs, type RetryOptions, type RetryPolicy } from './router/retry.js';
export { DEFAULT_COOLDOWN_POLICY, type CooldownOptions } from './router/cooldown.js';
export { UsageStoreError, type UsageStoreErrorCode } from './usage/store-error.js';
// budget policies
export { BudgetPolicies, type BudgetPoliciesOptions, type CallEstimate } from './budget/policies.js';
export { MemoryPolicyLedger, type MemoryPolicyLedgerOptions } from './budget/memory-policy-ledger.js';
export { parsePolicies, DEFAULT_POLICY_THRESHOLDS, type NormalizedPolicy } from './budget/policy-schema.js';
export {
  POLICY_SCOPES,
  type BudgetPolicy,
  type CallSubject,
  type LineLimits,
  type PolicyAlert,
  type PolicyAmount,
  type PolicyGuard,
  type PolicyLedger,
  type PolicyLine,
  type PolicyMatch,
  type PolicyOverride,
  type PolicyReservation,
  type PolicyReserved,
  type PolicyScope,
  type PolicyStanding,
  type RestorePolicySpend,
} from './budget/policy-types.js';
export { PolicyExhaustedError, RateLimitedError, UnpricedModelError, type PolicyLimitKind, type PolicyRefusalFields } from './core/errors.js';
// OpenTelemetry GenAI telemetry (through @opentelemetry/api only: inert without a user's SDK)
export {
  startGenAiSpan,
  recordGenAiCall,
  genAiTelemetryEnabled,
  type GenAiCallStart,
  type GenAiCallCharge,
  type GenAiCallHandle,
  type GenAiUsage,
} from './telemetry/index.js';
