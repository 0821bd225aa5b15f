import { ValidationError } from '../core/errors.js';
import type { PolicyAmount, PolicyOverride } from './policy-types.js';

/** Checks of what callers hand a policy ledger (by hand, without zod: some run on every call). */

/** Checks an amount of a reserve or settle (hand-written: it runs on every call). */
export function checkAmount(field: string, amount: PolicyAmount): void {
  if (amount === null || typeof amount !== 'object') throw new ValidationError(field, amount, 'must be { nanos, tokens }');
  if (!Number.isSafeInteger(amount.nanos) || amount.nanos < 0) throw new ValidationError(`${field}.nanos`, amount.nanos, 'must be a whole number of nano-USD >= 0');
  if (!Number.isSafeInteger(amount.tokens) || amount.tokens < 0) throw new ValidationError(`${field}.tokens`, amount.tokens, 'must be a whole number of tokens >= 0');
}


/** What a restore resolved to, if it is `{ nanos, tokens, requests }` of whole numbers >= 0. */
export function checkSpent(spent: unknown): { nanos: number; tokens: number; requests: number } | undefined {
  if (spent === null || typeof spent !== 'object') return undefined;
  const { nanos, tokens, requests } = spent as Record<string, unknown>;
  const ok = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  return ok(nanos) && ok(tokens) && ok(requests) ? { nanos, tokens, requests } : undefined;
}

/** Checks an override and keeps only its fields. */
export function checkOverride(override: PolicyOverride): PolicyOverride {
  if (override === null || typeof override !== 'object') throw new ValidationError('override', override, 'must be { policy, entity, maxNanos?, maxTokens? }');
  const { policy, entity, maxNanos, maxTokens } = override;
  if (typeof policy !== 'string' || policy.length === 0) throw new ValidationError('override.policy', policy, 'must be a policy name');
  if (typeof entity !== 'string' || entity.length === 0) throw new ValidationError('override.entity', entity, 'must be a non-empty string');
  const positive = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 1;
  if (maxNanos !== undefined && !positive(maxNanos)) throw new ValidationError('override.maxNanos', maxNanos, 'must be a whole number of nano-USD >= 1');
  if (maxTokens !== undefined && !positive(maxTokens)) throw new ValidationError('override.maxTokens', maxTokens, 'must be a whole number of tokens >= 1');
  if (maxNanos === undefined && maxTokens === undefined) throw new ValidationError('override', override, 'must set maxNanos or maxTokens');
  const out: PolicyOverride = { policy, entity };
  if (maxNanos !== undefined) out.maxNanos = maxNanos;
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  return out;
}
