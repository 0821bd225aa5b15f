/**
 * The Redis keys of a {@link RedisPolicyLedger}, in one place (see `policy-scripts.ts` for what they hold).
 * Policy names hold no `:` (letters, digits, `.`, `_`, `-`).
 */
import type { PolicyLine } from '../../../budget/policy-types.js';

/**
 * The hash of a policy's lines of one meter in one window (`<prefix>pl:<b|r>:<policy>:<windowStart>`): one
 * field per entity, valued with the line's packed state and meta. It expires a grace after the window.
 */
export function policyLinesKey(keyPrefix: string, line: Pick<PolicyLine, 'meter' | 'policy' | 'windowStart'>): string {
  return `${keyPrefix}pl:${line.meter === 'budget' ? 'b' : 'r'}:${line.policy}:${line.windowStart}`;
}

/**
 * The sorted set of a policy's budget lines in one window, scored by spend (`<prefix>pl:b:<policy>:<windowStart>:top`,
 * which the scripts derive from the lines' hash).
 */
export function policyTopKey(keyPrefix: string, policy: string, windowStart: number): string {
  return `${policyLinesKey(keyPrefix, { meter: 'budget', policy, windowStart })}:top`;
}

/** The hash of every override (`<prefix>po`), field `<policy>\0<entity>`, value `<maxNanos>:<maxTokens>` (empty: the policy's). */
export function policyOverridesKey(keyPrefix: string): string {
  return `${keyPrefix}po`;
}

/** The field of an override in {@link policyOverridesKey}. */
export function overrideField(policy: string, entity: string): string {
  return `${policy}\0${entity}`;
}

/** The sorted set of every live hold of the ledger (`<prefix>ph`), scored by expiry. */
export function policyHoldsKey(keyPrefix: string): string {
  return `${keyPrefix}ph`;
}

/** The sorted set of the holds that lapsed in the last day (`<prefix>px`), scored by when: a late settle still charges once. */
export function policyLapsedKey(keyPrefix: string): string {
  return `${keyPrefix}px`;
}
