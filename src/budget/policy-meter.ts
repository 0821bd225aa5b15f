import { PolicyExhaustedError, RateLimitedError, type PolicyLimitKind } from '../core/errors.js';
import type { LineLimits, PolicyLine, PolicyOverride, PolicyStanding } from './policy-types.js';

/** The limit a line refused a call on, with the amounts in the limit's unit (USD, tokens, requests). */
export interface MeterRefusal {
  limit: PolicyLimitKind;
  max: number;
  used: number;
  reserved: number;
  requested: number;
}

/**
 * The state of one {@link PolicyLine} (one meter of one entity in one window) in a memory ledger: what was
 * charged, what calls in flight hold, and which alerts already fired in this window. Plain integer fields,
 * so that a reserve over three lines is a few additions.
 *
 * @example
 * ```ts
 * const meter = new PolicyMeter(line);
 * if (meter.refusal(meter.limits(undefined), 1_000, 50) === undefined) meter.hold(1_000, 50);
 * ```
 */
export class PolicyMeter {
  spentNanos = 0;
  reservedNanos = 0;
  usedTokens = 0;
  reservedTokens = 0;
  requests = 0;
  reservedRequests = 0;
  /** Epoch ms of the last reserve or settle (idle expiry). */
  lastUsed = 0;
  /** The same entity's line in an older window (a table chains them newest first). */
  older: PolicyMeter | undefined = undefined;
  /** Set when the meter left its table (a line remembering it must look its meter up again). */
  dropped = false;
  /** The limits of the line as last seen (the policy's; an override is applied on top). */
  lineLimits: LineLimits;
  /** The limits in force, cached by a ledger for its overrides' `version` (-1: to compute). */
  effective: LineLimits;
  effectiveVersion = -1;
  /** The line's thresholds, ascending. */
  private readonly thresholds: readonly number[];
  /** How many of them were alerted in this window. */
  private firedCount = 0;
  private exhaustedAlerted = false;

  constructor(readonly line: PolicyLine) {
    this.lineLimits = line.limits;
    this.effective = line.limits;
    const t = line.thresholds;
    this.thresholds = t.every((v, i) => i === 0 || t[i - 1]! < v) ? t : [...new Set(t)].sort((a, b) => a - b);
  }

  /** The limits in force: the line's, with a budget line's nanos/tokens replaced by those the override sets. */
  limits(override: PolicyOverride | undefined): LineLimits {
    if (override === undefined || this.line.meter !== 'budget') return this.lineLimits;
    const limits: LineLimits = { ...this.lineLimits };
    if (override.maxNanos !== undefined) limits.nanos = override.maxNanos;
    if (override.maxTokens !== undefined) limits.tokens = override.maxTokens;
    return limits;
  }

  /** Why the line cannot afford `nanos` and `tokens` (and one request) on top of what is used and held; checked nanos, tokens, requests. */
  refusal(limits: LineLimits, nanos: number, tokens: number): MeterRefusal | undefined {
    if (limits.nanos !== undefined && this.spentNanos + this.reservedNanos + nanos > limits.nanos) {
      return { limit: 'usd', max: limits.nanos / 1e9, used: this.spentNanos / 1e9, reserved: this.reservedNanos / 1e9, requested: nanos / 1e9 };
    }
    if (limits.tokens !== undefined && this.usedTokens + this.reservedTokens + tokens > limits.tokens) {
      return { limit: 'tokens', max: limits.tokens, used: this.usedTokens, reserved: this.reservedTokens, requested: tokens };
    }
    if (limits.requests !== undefined && this.requests + this.reservedRequests + 1 > limits.requests) {
      return { limit: 'requests', max: limits.requests, used: this.requests, reserved: this.reservedRequests, requested: 1 };
    }
    return undefined;
  }

  /** The error a refusal on this line is thrown as: a rate line's is `RateLimitedError`. */
  refusalError(refusal: MeterRefusal, now: number): PolicyExhaustedError | RateLimitedError {
    const { policy, scope, entity, resetsAt } = this.line;
    const fields = { policy, scope, entity, ...refusal, resetsAt };
    if (this.line.meter === 'rate') return new RateLimitedError({ ...fields, resetsAt: resetsAt ?? now, now });
    return new PolicyExhaustedError(fields);
  }

  hold(nanos: number, tokens: number): void {
    this.reservedNanos += nanos;
    this.reservedTokens += tokens;
    this.reservedRequests += 1;
  }

  free(nanos: number, tokens: number): void {
    this.reservedNanos -= nanos;
    this.reservedTokens -= tokens;
    this.reservedRequests -= 1;
  }

  charge(nanos: number, tokens: number): void {
    this.spentNanos += nanos;
    this.usedTokens += tokens;
    this.requests += 1;
  }

  /** Adds a restored spend (from the durable record). */
  restore(spent: { nanos: number; tokens: number; requests: number }): void {
    this.spentNanos += spent.nanos;
    this.usedTokens += spent.tokens;
    this.requests += spent.requests;
  }

  /** True the first time a refusal is alerted in this window. */
  firstExhausted(): boolean {
    if (this.exhaustedAlerted) return false;
    this.exhaustedAlerted = true;
    return true;
  }

  /**
   * The thresholds crossed and not yet alerted in this window (budget lines): percent used is the highest
   * of spent/limit over the limits present, after the charge.
   */
  crossed(limits: LineLimits): readonly number[] {
    const thresholds = this.thresholds;
    let next = thresholds[this.firedCount];
    if (next === undefined || this.line.meter !== 'budget') return NONE;
    let percent = 0;
    if (limits.nanos !== undefined) percent = (this.spentNanos / limits.nanos) * 100;
    if (limits.tokens !== undefined) percent = Math.max(percent, (this.usedTokens / limits.tokens) * 100);
    if (percent < next) return NONE;
    // Ascending, so the thresholds alerted are always the first `firedCount`.
    const out: number[] = [];
    while (next !== undefined && percent >= next) {
      out.push(next);
      next = thresholds[++this.firedCount];
    }
    return out;
  }

  /** Whether calls in flight hold part of this line. */
  get busy(): boolean {
    return this.reservedRequests > 0;
  }

  standing(limits: LineLimits): PolicyStanding {
    const { policy, scope, entity, meter, windowStart, resetsAt } = this.line;
    return {
      // The limits object is shared (frozen by BudgetPolicies): copying it cost a tenth of a reserve.
      policy, scope, entity, meter, windowStart, resetsAt, limits,
      spentNanos: this.spentNanos, reservedNanos: this.reservedNanos,
      usedTokens: this.usedTokens, reservedTokens: this.reservedTokens,
      requests: this.requests, reservedRequests: this.reservedRequests,
    };
  }
}

const NONE: readonly number[] = Object.freeze([]);

/** Where a line never used stands: zero, under `limits`. */
export function zeroStanding(line: PolicyLine, limits: LineLimits): PolicyStanding {
  return new PolicyMeter(line).standing(limits);
}

/** The key of a line in a ledger: policy, meter, entity and window start. */
export function lineKey(line: PolicyLine): string {
  return `${line.policy}\0${line.meter}\0${line.entity}\0${line.windowStart}`;
}
