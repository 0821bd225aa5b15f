/**
 * The Redis keys of a {@link RedisPolicyLedger}, in one place. Policy names hold no `:` (letters, digits,
 * `.`, `_`, `-`), so the entity, which may hold anything, comes last.
 */
import type { PolicyLine } from '../../../budget/policy-types.js';

/**
 * The hash of one line (`<prefix>pl:<b|r>:<policy>:<windowStart>:<entity>`): field `s` (its packed state,
 * see `policy-scripts.ts`), field `m` (scope, reset and the policy's limits, for `top`), and one field per
 * live hold.
 */
export function policyLineKey(keyPrefix: string, line: Pick<PolicyLine, 'meter' | 'policy' | 'windowStart' | 'entity'>): string {
  return `${policyLineBase(keyPrefix, line.meter, line.policy, line.windowStart)}${line.entity}`;
}

/** The key of a line without its entity (what `top` appends each entity to). */
export function policyLineBase(keyPrefix: string, meter: 'budget' | 'rate', policy: string, windowStart: number): string {
  return `${keyPrefix}pl:${meter === 'budget' ? 'b' : 'r'}:${policy}:${windowStart}:`;
}

/** The sorted set of a policy's budget lines in one window, scored by spend (`<prefix>pt:<policy>:<windowStart>`). */
export function policyTopKey(keyPrefix: string, policy: string, windowStart: number): string {
  return `${keyPrefix}pt:${policy}:${windowStart}`;
}

/** The hash of every override (`<prefix>po`), field `<policy>\0<entity>`, value `<maxNanos>:<maxTokens>` (empty: the policy's). */
export function policyOverridesKey(keyPrefix: string): string {
  return `${keyPrefix}po`;
}

/** The field of an override in {@link policyOverridesKey}. */
export function overrideField(policy: string, entity: string): string {
  return `${policy}\0${entity}`;
}
