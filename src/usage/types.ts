import type { Metadata } from '../core/types.js';

/**
 * One completed call, as metered. `id` is unique and time-sortable (a ULID), so stores can
 * de-duplicate on it and order by it.
 */
export interface UsageEvent {
  id: string;
  threadId: string | null;
  agentId: string | null;
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedPromptTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  /** Epoch milliseconds when the call completed. */
  timestamp: number;
  latencyMs: number;
  /** USD, or `undefined` when the model has no known price. Equal to `costNanos / 1e9`. */
  estimatedCost: number | undefined;
  /** Exact cost in integer nano-USD (1e-9 USD), or `undefined` when the model has no known price. */
  costNanos: number | undefined;
  metadata: Metadata;
  /**
   * Tokens charged beyond the call's reservation: the provider reported more than the router held for
   * the call (still plausible, so billed as reported). Absent when the charge fit the reservation.
   */
  overspendTokens?: number;
}

/** Aggregate usage (per agent, per model, or overall). */
export interface UsageTotals {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  requestCount: number;
  /** USD, summed exactly from `totalCostNanos`. */
  totalCost: number;
  totalCostNanos: number;
}

/** Overall totals also carry the mean latency. */
export interface OverallTotals extends UsageTotals {
  avgLatencyMs: number;
}

/** The organisation an event is billed to: `metadata.org_id`, else `metadata.orgId`. */
export function eventOrgId(event: Pick<UsageEvent, 'metadata'>): string | null {
  const v = event.metadata.org_id ?? event.metadata.orgId;
  return v === undefined || v === null ? null : String(v);
}

/** The user an event belongs to: `metadata.user_id`, else `metadata.userId`. */
export function eventUserId(event: Pick<UsageEvent, 'metadata'>): string | null {
  const v = event.metadata.user_id ?? event.metadata.userId;
  return v === undefined || v === null ? null : String(v);
}
