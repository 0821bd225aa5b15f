import type { PolicyAlert, PolicyStanding } from '../budget/policy-types.js';

/** The `type` of a webhook event: `budget.threshold` (a budget line crossed a threshold) or `budget.exhausted` (a call was refused). */
export type AlertEventType = 'budget.threshold' | 'budget.exhausted';

/**
 * The JSON body POSTed for one alert (Standard Webhooks payload shape: `type`, `timestamp`, `data`).
 * `data` is the line's standing in the HTTP API's snake_case words: USD and token amounts as JSON
 * numbers, times as ISO 8601 strings (`resets_at` is `null` for a lifetime budget), a limit the policy does
 * not set is `null` and so is what remains of it. A `rate` line (refused by `rpm`/`tpm`) carries the
 * rate words (`rpm`, `requests`, `remaining_requests`, `tpm`, `tokens`, `remaining_tokens`) instead of
 * the budget ones.
 */
export interface AlertEvent {
  type: AlertEventType;
  /** When the alert was raised (ISO 8601). */
  timestamp: string;
  data: Record<string, string | number | null>;
}

/**
 * The webhook event of an alert.
 *
 * @example
 * ```ts
 * alertEvent({ type: 'threshold', percent: 90, standing, at: Date.now() });
 * // { type: 'budget.threshold', timestamp: '2026-…Z', data: { policy: 'user-daily', scope: 'user', entity: 'u-7',
 * //   meter: 'budget', percent: 90, window_start: '…', resets_at: '…', max_usd: 5, spent_usd: 4.5, … } }
 * ```
 */
export function alertEvent(alert: PolicyAlert): AlertEvent {
  const s = alert.standing;
  const data: AlertEvent['data'] = { policy: s.policy, scope: s.scope, entity: s.entity, meter: s.meter };
  if (alert.type === 'threshold' && alert.percent !== undefined) data.percent = alert.percent;
  data.window_start = new Date(s.windowStart).toISOString();
  data.resets_at = s.resetsAt === null ? null : new Date(s.resetsAt).toISOString();
  Object.assign(data, s.meter === 'rate' ? rateWords(s) : budgetWords(s));
  return { type: alert.type === 'threshold' ? 'budget.threshold' : 'budget.exhausted', timestamp: new Date(alert.at).toISOString(), data };
}

function budgetWords(s: PolicyStanding): AlertEvent['data'] {
  const maxNanos = s.limits.nanos;
  const maxTokens = s.limits.tokens;
  return {
    max_usd: maxNanos === undefined ? null : usd(maxNanos),
    spent_usd: usd(s.spentNanos),
    reserved_usd: usd(s.reservedNanos),
    remaining_usd: maxNanos === undefined ? null : usd(Math.max(0, maxNanos - s.spentNanos - s.reservedNanos)),
    max_tokens: maxTokens ?? null,
    used_tokens: s.usedTokens,
    reserved_tokens: s.reservedTokens,
    remaining_tokens: maxTokens === undefined ? null : Math.max(0, maxTokens - s.usedTokens - s.reservedTokens),
  };
}

function rateWords(s: PolicyStanding): AlertEvent['data'] {
  const rpm = s.limits.requests;
  const tpm = s.limits.tokens;
  return {
    rpm: rpm ?? null,
    requests: s.requests,
    remaining_requests: rpm === undefined ? null : Math.max(0, rpm - s.requests - s.reservedRequests),
    tpm: tpm ?? null,
    tokens: s.usedTokens,
    remaining_tokens: tpm === undefined ? null : Math.max(0, tpm - s.usedTokens - s.reservedTokens),
  };
}

/** Integer nano-USD as a USD number: the correctly rounded quotient prints as the decimal amount (1_500_000_000 → 1.5). */
function usd(nanos: number): number {
  return nanos / 1e9;
}
