import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32
const RANDOM_CHARS = 16;

let lastTime = -1;
const lastRandom = new Uint8Array(RANDOM_CHARS); // one base32 digit (0-31) per byte
const pool = new Uint8Array(RANDOM_CHARS * 64);
let poolOffset = pool.length;

/**
 * A new ULID: 26 characters, lexicographically sortable by creation time, unique. Ids made in the same
 * millisecond by this process increase monotonically (the random part is incremented), so sorting by id
 * keeps creation order.
 *
 * @example
 * ```ts
 * newEventId(); // '01JDR4Q6Z8K3V9T2M5XW7YBNCE'
 * ```
 */
export function newEventId(now: number = Date.now()): string {
  if (now <= lastTime) {
    increment();
  } else {
    lastTime = now;
    if (poolOffset + RANDOM_CHARS > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = pool[poolOffset + i]! & 31;
    poolOffset += RANDOM_CHARS;
  }
  let time = lastTime;
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32]! + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  for (let i = 0; i < RANDOM_CHARS; i++) tail += ALPHABET[lastRandom[i]!];
  return head + tail;
}

function increment(): void {
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    if (lastRandom[i]! < 31) {
      lastRandom[i]! += 1;
      return;
    }
    lastRandom[i] = 0;
  }
  // 80 random bits exhausted within one millisecond: move to the next millisecond.
  lastTime += 1;
}

/** The epoch-millisecond timestamp encoded in a ULID. */
export function eventIdTime(id: string): number {
  let time = 0;
  for (let i = 0; i < 10; i++) time = time * 32 + ALPHABET.indexOf(id[i] ?? '');
  return time;
}
