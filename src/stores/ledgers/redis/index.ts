/**
 * `tokenwarden/redis`: the Redis budget ledger, kept out of the package root so that users who never
 * touch Redis never load ioredis.
 *
 * @example
 * ```ts
 * import { RedisBudgetLedger } from 'tokenwarden/redis';
 * const ledger = new RedisBudgetLedger({ url: 'redis://127.0.0.1:6379' });
 * ```
 */
export {
  RedisBudgetLedger,
  isFailOpenReservation,
  redisLedgerKeys,
  FAIL_OPEN_RESERVATION_PREFIX,
  type RedisBudgetLedgerOptions,
  type RedisLedgerOperation,
} from './redis-ledger.js';
export { decodeLedgerState, type LedgerState } from './ledger-state.js';
export { RedisPolicyLedger, type RedisPolicyLedgerOptions } from './policy-ledger.js';
export { policyLinesKey, policyTopKey, policyOverridesKey, policyHoldsKey } from './policy-keys.js';
