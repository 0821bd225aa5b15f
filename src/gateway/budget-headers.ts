import type { ServerResponse } from 'node:http';
import type { PolicyStanding } from '../budget/policy-types.js';

/** Options of {@link budgetHeaders}. */
export interface BudgetHeaderOptions {
  /** How an entity is shown to the client (the gateway shows a thread as the id the client sent). Default: as is. */
  publicEntity?: (scope: string, entity: string) => string;
}

const NANOS_PER_USD = 1e9;

/** Nano-USD as a decimal USD string without float noise: `1500000000` → `1.5`, `1` → `0.000000001`. */
export function usdText(nanos: number): string {
  const sign = nanos < 0 ? '-' : '';
  const n = Math.abs(Math.round(nanos));
  const whole = Math.floor(n / NANOS_PER_USD);
  const frac = String(n % NANOS_PER_USD).padStart(9, '0').replace(/0+$/, '');
  return `${sign}${whole}${frac ? `.${frac}` : ''}`;
}

/**
 * A duration as OpenAI writes its `x-ratelimit-reset-*` headers (Go's duration format): `350ms`, `1s`,
 * `17.5s`, `6m0s`, `1h2m3s`. Negative durations count as 0 (`0s`).
 *
 * @example
 * ```ts
 * resetText(360_000); // '6m0s'
 * resetText(1_000);   // '1s'
 * ```
 */
export function resetText(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t === 0) return '0s';
  if (t < 1000) return `${t}ms`;
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = `${Number(((t % 60_000) / 1000).toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${s}`;
  return m > 0 ? `${m}m${s}` : s;
}

/** Remaining fraction (0..1) of one limit given what is used and held. */
function fraction(limit: number, used: number): number {
  return limit > 0 ? Math.max(0, limit - used) / limit : 0;
}

/** The smallest remaining fraction over a budget line's present limits (`Infinity` when it has none). */
function budgetFraction(s: PolicyStanding): number {
  let f = Infinity;
  if (s.limits.nanos !== undefined) f = Math.min(f, fraction(s.limits.nanos, s.spentNanos + s.reservedNanos));
  if (s.limits.tokens !== undefined) f = Math.min(f, fraction(s.limits.tokens, s.usedTokens + s.reservedTokens));
  return f;
}

/** The standing with the smallest finite `score`; the first on a tie. */
function tightest(standings: readonly PolicyStanding[], score: (s: PolicyStanding) => number): PolicyStanding | undefined {
  let best: PolicyStanding | undefined;
  let bestScore = Infinity;
  for (const s of standings) {
    const v = score(s);
    if (v < bestScore) {
      best = s;
      bestScore = v;
    }
  }
  return best;
}

const PRINTABLE = /^[\x20-\x7e]*$/;

/** A header value any HTTP stack accepts: printable ASCII as is, anything else percent-encoded. */
function headerSafe(value: string): string {
  return PRINTABLE.test(value) ? value : encodeURIComponent(value);
}

// A window's reset and a policy's limit are the same for most answers in a row: their text is kept
// (the gateway profile showed these headers at ~3 µs of a request, half of it formatting).
let lastReset = NaN;
let lastResetText = '';
function resetIso(resetsAt: number): string {
  if (resetsAt !== lastReset) {
    lastResetText = new Date(resetsAt).toISOString();
    lastReset = resetsAt;
  }
  return lastResetText;
}
let lastLimit = NaN;
let lastLimitText = '';
function limitUsd(nanos: number): string {
  if (nanos !== lastLimit) {
    lastLimitText = usdText(nanos);
    lastLimit = nanos;
  }
  return lastLimitText;
}

function budgetLineHeaders(s: PolicyStanding, out: Record<string, string>, options: BudgetHeaderOptions): void {
  out['x-budget-policy'] = s.policy;
  out['x-budget-scope'] = s.scope;
  out['x-budget-entity'] = headerSafe(options.publicEntity ? options.publicEntity(s.scope, s.entity) : s.entity);
  if (s.limits.nanos !== undefined) {
    out['x-budget-limit-usd'] = limitUsd(s.limits.nanos);
    out['x-budget-remaining-usd'] = usdText(Math.max(0, s.limits.nanos - s.spentNanos - s.reservedNanos));
  }
  if (s.limits.tokens !== undefined) {
    out['x-budget-limit-tokens'] = String(s.limits.tokens);
    out['x-budget-remaining-tokens'] = String(Math.max(0, s.limits.tokens - s.usedTokens - s.reservedTokens));
  }
  if (s.resetsAt !== null) out['x-budget-reset'] = resetIso(s.resetsAt);
}

/**
 * The budget and rate-limit headers of an answer, from where its policy lines stand (after the charge
 * for a JSON answer, with the call's hold before a stream's first byte). A pure function.
 *
 * - The tightest budget line (the smallest remaining fraction of any of its limits) gives `x-budget-policy`,
 *   `x-budget-scope`, `x-budget-entity`, `x-budget-limit-usd` / `x-budget-remaining-usd` and/or
 *   `x-budget-limit-tokens` / `x-budget-remaining-tokens` (what is held by calls in flight counts as used),
 *   and `x-budget-reset` (ISO 8601; absent for a lifetime budget).
 * - Rate lines give OpenAI's headers: `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`,
 *   `x-ratelimit-reset-requests` from the rate line with the fewest requests left (relative to its rpm),
 *   and the `-tokens` ones from the line with the fewest tokens left (relative to its tpm), as OpenAI
 *   reports its request and token limits separately. Resets are durations like `1s` or `6m0s`.
 *
 * @example
 * ```ts
 * budgetHeaders(charge.policies ?? [], Date.now());
 * // { 'x-budget-policy': 'user-daily', 'x-budget-scope': 'user', 'x-budget-entity': 'acme/u-7',
 * //   'x-budget-limit-usd': '5', 'x-budget-remaining-usd': '4.99712', 'x-budget-reset': '2026-12-01T00:00:00.000Z',
 * //   'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-requests': '42.5s' }
 * ```
 */
export function budgetHeaders(standings: readonly PolicyStanding[], now: number, options: BudgetHeaderOptions = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const budget = tightest(standings, (s) => (s.meter === 'budget' ? budgetFraction(s) : Infinity));
  if (budget) budgetLineHeaders(budget, out, options);
  const rate = standings.filter((s) => s.meter === 'rate');
  const requests = tightest(rate, (s) => (s.limits.requests !== undefined ? fraction(s.limits.requests, s.requests + s.reservedRequests) : Infinity));
  if (requests?.limits.requests !== undefined && requests.resetsAt !== null) {
    out['x-ratelimit-limit-requests'] = String(requests.limits.requests);
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, requests.limits.requests - requests.requests - requests.reservedRequests));
    out['x-ratelimit-reset-requests'] = resetText(requests.resetsAt - now);
  }
  const tokens = tightest(rate, (s) => (s.limits.tokens !== undefined ? fraction(s.limits.tokens, s.usedTokens + s.reservedTokens) : Infinity));
  if (tokens?.limits.tokens !== undefined && tokens.resetsAt !== null) {
    out['x-ratelimit-limit-tokens'] = String(tokens.limits.tokens);
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, tokens.limits.tokens - tokens.usedTokens - tokens.reservedTokens));
    out['x-ratelimit-reset-tokens'] = resetText(tokens.resetsAt - now);
  }
  return out;
}

/** How the gateway shows an entity: a thread as the id its client sent (without the org it is namespaced by). */
export function publicEntity(scope: string, entity: string): string {
  if (scope !== 'thread') return entity;
  const slash = entity.indexOf('/');
  return slash === -1 ? entity : entity.slice(slash + 1);
}

/** Sets {@link budgetHeaders} of `standings` on a response whose headers are not out yet (no-op otherwise). */
export function setPolicyHeaders(res: ServerResponse, standings: readonly PolicyStanding[] | undefined, now = Date.now()): void {
  if (!standings || standings.length === 0 || res.headersSent) return;
  const headers = budgetHeaders(standings, now, { publicEntity });
  for (const name in headers) res.setHeader(name, headers[name]!);
}
