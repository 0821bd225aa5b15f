/**
 * The layout of a thread's hash in the Redis ledger, as the scripts write it (see `scripts.ts`): the
 * packed state field `s` and the hold fields. For the scripts and for tools that read the hash directly.
 */

/** `struct.pack` format of the `s` field: m, p, c, n, r, x, o as doubles, then k, f as uint32 (64 bytes). */
export const STATE_FORMAT = '>dddddddI4I4';

/** A thread's state as stored in its `s` field. */
export interface LedgerState {
  maxTokens: number;
  promptTokens: number;
  completionTokens: number;
  requestCount: number;
  heldTokens: number;
  expiresAt: number;
  earliestHoldExpiry: number;
  holdCount: number;
  firedMask: number;
}

/**
 * Decodes the `s` field of a thread's hash in a {@link RedisBudgetLedger} (read as a Buffer).
 *
 * @example
 * ```ts
 * const { hash } = redisLedgerKeys('tw:', 'thread-1');
 * const state = decodeLedgerState((await redis.hgetBuffer(hash, 's'))!);   // { maxTokens, promptTokens, ... }
 * ```
 */
export function decodeLedgerState(packed: Buffer): LedgerState {
  if (packed.length !== 64) throw new RangeError(`ledger state: expected 64 bytes, got ${packed.length}`);
  const d = (i: number) => packed.readDoubleBE(i * 8);
  return {
    maxTokens: d(0),
    promptTokens: d(1),
    completionTokens: d(2),
    requestCount: d(3),
    heldTokens: d(4),
    expiresAt: d(5),
    earliestHoldExpiry: d(6),
    holdCount: packed.readUInt32BE(56),
    firedMask: packed.readUInt32BE(60),
  };
}

/** Length of the uuid part of a hold id; the tokens follow after a colon. */
export const HOLD_UUID_LENGTH = 36;
/** Hash fields at least this long are holds; every counter field is shorter. */
export const HOLD_MIN = HOLD_UUID_LENGTH + 2;

/** The reservation id of a hold of `tokens` (the uuid must be {@link HOLD_UUID_LENGTH} characters). */
export function holdId(uuid: string, tokens: number): string {
  return `${uuid}:${tokens}`;
}

/** Whether a hash field of a thread is a hold or a tombstone (as opposed to a counter). */
export function isHoldField(field: string): boolean {
  return field.length >= HOLD_MIN;
}

/** Whether the value of a hold field marks a tombstone (a cancelled reservation id) rather than a hold. */
export function isTombstoneValue(value: string): boolean {
  return value.startsWith('-');
}

/** The tokens of a hold, from its id. */
export function holdTokens(id: string): number {
  return Number(id.slice(HOLD_UUID_LENGTH + 1));
}
