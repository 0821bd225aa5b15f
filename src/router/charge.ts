import type { PolicyStanding } from '../budget/policy-types.js';
import type { BudgetLedger, Reservation, ThreadUsage, ThresholdEvent, UsageCharge } from '../budget/types.js';
import type { Backend, CompletionRequest, TokenUsage } from '../core/types.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { UsageEvent } from '../usage/types.js';
import type { PolicyHold } from './policy-hold.js';
import type { SettleRetries } from './settle-retries.js';

/** What the router reports about the thread's budget after a call. */
export interface RouterBudgetInfo {
  /** The thread's usage after the charge (`undefined` if the thread ended meanwhile). */
  usage: ThreadUsage | undefined;
  /** Thresholds this call crossed (the message pump warns the agent with them). */
  crossed: ThresholdEvent[];
}

/** What a finished call was charged, and by whom: shared by a call's answer and a stream's usage chunk. */
export interface RouterCharge {
  /** What was charged: the provider's usage, or an estimate when it reported none (see `usageEstimated`). */
  usage: TokenUsage;
  /** True when the provider sent no usage and the router counted the tokens itself. */
  usageEstimated: boolean;
  /** Name and provider of the backend that answered. */
  backend: string;
  provider: string;
  /** Milliseconds from the first attempt to the answer (retries and waits included). */
  latencyMs: number;
  /** The usage event recorded for this call. */
  event: UsageEvent;
  /**
   * Present when the call had a `threadId` and the ledger took the charge. Absent when settling failed:
   * the event is recorded all the same and the settle is retried in the background.
   */
  budget?: RouterBudgetInfo;
  /**
   * Where each budget-policy line of the call stands after its charge (the event's cost and tokens).
   * Absent when no policy applied (or the router has none), or when settling failed: the settle is then
   * retried in the background.
   */
  policies?: PolicyStanding[];
}

/** One charge: who answered, what to charge, and where the reservation is. */
export interface ChargeInput {
  req: CompletionRequest;
  /** Model for the usage event (the answered one, if sane; else the requested one). */
  model: string;
  backend: Backend;
  usage: TokenUsage;
  usageEstimated: boolean;
  /** `performance.now()` when the call started. */
  startedAt: number;
  ledger: BudgetLedger | undefined;
  reservation: Reservation | undefined;
  /** The call's budget-policy hold, settled to the recorded event (released if recording throws). */
  policies: PolicyHold | undefined;
}

/**
 * The one charge path of `complete()` and `stream()`, for answers, cut streams and implausible usage
 * alike: settle the reservation, record the usage event (the bill), return what the caller is told.
 *
 * A settle that fails (a ledger gone) does not lose the bill: the event is recorded anyway and the settle
 * is handed to {@link SettleRetries}, which retries it in the background (settle is idempotent by
 * reservation id). Until it lands, the hold keeps the tokens out of the thread's budget, so the thread
 * cannot overspend meanwhile. The event is recorded exactly once, whatever the ledger does.
 *
 * Budget policies are settled after the event is recorded, to the event's own cost and tokens, so that
 * a policy's spend equals the sum of its stored events (what a restart restores it from); when recording
 * throws, their hold is released instead.
 */
export async function chargeCall(input: ChargeInput, tracker: UsageTracker, retries: SettleRetries): Promise<RouterCharge> {
  const { usage, ledger, reservation, backend } = input;
  let budget: RouterBudgetInfo | undefined;
  if (ledger && reservation) {
    const amount: UsageCharge = { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens };
    try {
      const settled = await ledger.settle(reservation, amount);
      budget = { usage: settled.usage, crossed: settled.crossed };
    } catch (err) {
      retries.add(ledger, reservation, amount, err);
    }
  }
  const overspend = reservation && usage.totalTokens > reservation.tokens ? usage.totalTokens - reservation.tokens : undefined;
  const latencyMs = Math.round((performance.now() - input.startedAt) * 1000) / 1000;
  let event: UsageEvent;
  try {
    event = recordEvent(input, tracker, latencyMs, overspend);
  } catch (err) {
    await input.policies?.release();
    throw err;
  }
  const policies = input.policies ? await input.policies.settle(event) : undefined;
  const out: RouterCharge = {
    usage,
    usageEstimated: input.usageEstimated,
    backend: backend.name,
    provider: backend.provider,
    latencyMs,
    event,
  };
  if (budget) out.budget = budget;
  if (policies) out.policies = policies;
  return out;
}

function recordEvent(input: ChargeInput, tracker: UsageTracker, latencyMs: number, overspend: number | undefined): UsageEvent {
  const { req, usage, backend } = input;
  return tracker.record({
    threadId: req.threadId ?? null,
    agentId: req.agentId ?? null,
    model: input.model,
    pricedAs: req.model,
    provider: backend.provider || 'unknown',
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    cachedPromptTokens: usage.cachedPromptTokens,
    cacheWriteTokens: usage.cacheWriteTokens,
    reasoningTokens: usage.reasoningTokens,
    latencyMs,
    metadata: req.metadata,
    ...(overspend !== undefined ? { overspendTokens: overspend } : {}),
  });
}
