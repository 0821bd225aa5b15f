/**
 * Decoding of the policy scripts' replies, and the arguments each line sends: helpers of
 * {@link RedisPolicyLedger}.
 */
import { PolicyExhaustedError, RateLimitedError, ValidationError, type PolicyLimitKind } from '../../../core/errors.js';
import type { LineLimits, PolicyAmount, PolicyLine, PolicyReservation, PolicyStanding } from '../../../budget/policy-types.js';
import { KIND_BUDGET, KIND_BUDGET_UNPRICED, KIND_RATE, KIND_RATE_UNPRICED } from './policy-batch-script.js';

/** The kind argument of a line (budget or rate, priced or not). */
export function lineKind(line: PolicyLine): string {
  if (line.meter === 'budget') return line.priced ? KIND_BUDGET : KIND_BUDGET_UNPRICED;
  return line.priced ? KIND_RATE : KIND_RATE_UNPRICED;
}

/** A limit as an argument (`''`: none). */
export function limitArg(n: number | undefined): string | number {
  return n === undefined ? '' : n;
}

/** The `m` field of a line: what `top` needs to know of it besides its entity. */
export function lineMeta(line: PolicyLine): string {
  return `${line.scope}|${line.resetsAt ?? ''}|${line.limits.nanos ?? ''}|${line.limits.tokens ?? ''}`;
}

function limitOf(value: unknown): number | undefined {
  const n = Number(value);
  return n < 0 ? undefined : n;
}

/** A standing from the 9 values at `at` of a reply (spent, used, requests, held nanos, held tokens, holds, 3 limits). */
export function standingAt(line: PolicyLine, reply: readonly unknown[], at: number): PolicyStanding {
  const limits: LineLimits = {};
  const nanos = limitOf(reply[at + 6]);
  const tokens = limitOf(reply[at + 7]);
  const requests = limitOf(reply[at + 8]);
  if (nanos !== undefined) limits.nanos = nanos;
  if (tokens !== undefined) limits.tokens = tokens;
  if (requests !== undefined) limits.requests = requests;
  return {
    policy: line.policy,
    scope: line.scope,
    entity: line.entity,
    meter: line.meter,
    windowStart: line.windowStart,
    resetsAt: line.resetsAt,
    limits,
    spentNanos: Number(reply[at]),
    usedTokens: Number(reply[at + 1]),
    requests: Number(reply[at + 2]),
    reservedNanos: Number(reply[at + 3]),
    reservedTokens: Number(reply[at + 4]),
    reservedRequests: Number(reply[at + 5]),
  };
}

const LIMIT_KINDS: readonly PolicyLimitKind[] = ['usd', 'tokens', 'requests'];
const NANOS_PER_USD = 1e9;

/**
 * The error of a refusal reply `{2, line, limit, max, used, reserved, requested, first, ...}`: nanos are
 * given in USD, a budget line refuses with `PolicyExhaustedError`, a rate line with `RateLimitedError`.
 */
export function refusalError(line: PolicyLine, reply: readonly unknown[], now: number): PolicyExhaustedError | RateLimitedError {
  const limit = LIMIT_KINDS[Number(reply[2]) - 1] ?? 'requests';
  const scale = limit === 'usd' ? NANOS_PER_USD : 1;
  const fields = {
    policy: line.policy,
    scope: line.scope,
    entity: line.entity,
    limit,
    max: Number(reply[3]) / scale,
    used: Number(reply[4]) / scale,
    reserved: Number(reply[5]) / scale,
    requested: Number(reply[6]) / scale,
    resetsAt: line.resetsAt,
  };
  if (line.meter === 'budget') return new PolicyExhaustedError(fields);
  // A rate line always has a reset (the UTC minute).
  return new RateLimitedError({ ...fields, resetsAt: line.resetsAt ?? now + 60_000, now });
}

/** The thresholds crossed by a settle that raised the alerted percent from `before` to `after`. */
export function crossedPercents(thresholds: readonly number[], before: number, after: number): number[] {
  if (!(after > before)) return [];
  return thresholds.filter((t) => t > before && t <= after);
}

const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

/** Checks an amount (`field` names it in errors): whole non-negative nanos and tokens. */
export function assertAmount(field: string, amount: PolicyAmount): void {
  if (amount === null || typeof amount !== 'object') throw new ValidationError(field, amount, 'must be { nanos, tokens }');
  for (const key of ['nanos', 'tokens'] as const) {
    const n = amount[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_AMOUNT) {
      throw new ValidationError(`${field}.${key}`, n, `must be a whole number from 0 to ${MAX_AMOUNT}`);
    }
  }
}

/** Checks the lines of a call (each a line object; no line twice). */
export function assertLines(lines: readonly PolicyLine[]): void {
  if (!Array.isArray(lines)) throw new ValidationError('lines', lines, 'must be an array of policy lines');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === null || typeof line !== 'object' || typeof line.policy !== 'string' || typeof line.entity !== 'string') {
      throw new ValidationError(`lines[${i}]`, line, 'must be a policy line');
    }
    if (line.meter !== 'budget' && line.meter !== 'rate') throw new ValidationError(`lines[${i}].meter`, line.meter, "must be 'budget' or 'rate'");
    // NUL separates the parts of a hold's member and of an override's field in Redis.
    if (line.entity.includes('\0')) throw new ValidationError(`lines[${i}].entity`, line.entity, 'must not contain a NUL character');
  }
}

/** Checks a reservation handed back to settle or release. */
export function assertPolicyReservation(reservation: PolicyReservation): void {
  if (reservation === null || typeof reservation !== 'object' || typeof reservation.id !== 'string' || !Array.isArray(reservation.lines)) {
    throw new ValidationError('reservation', reservation, 'must be a reservation returned by reserve()');
  }
  assertAmount('reservation.amount', reservation.amount);
}

/**
 * The member of a hold in the holds' sorted set: `<id>:<nanos>:<tokens>:<kinds>`, then `\0<hash>\0<entity>` per line
 * (what a purge of the lapsed hold gives back, and where). Settle and release rebuild it from the reservation.
 */
export function holdMember(id: string, amount: PolicyAmount, lines: readonly PolicyLine[], keys: readonly string[]): string {
  let kinds = '';
  let tail = '';
  for (let i = 0; i < lines.length; i++) {
    kinds += lineKind(lines[i]!);
    tail += `\0${keys[i]!}\0${lines[i]!.entity}`;
  }
  return `${id}:${amount.nanos}:${amount.tokens}:${kinds}${tail}`;
}
