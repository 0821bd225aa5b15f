import type { HeaderGetter } from './exchange.js';

/**
 * Parses Retry-After (`retry-after-ms`, then `retry-after` in seconds or as an HTTP date) into ms.
 *
 * @example
 * ```ts
 * parseRetryAfter(response.headers);                 // 'retry-after: 2' → 2000
 * parseRetryAfter(new Headers({ 'retry-after-ms': '150' })); // 150
 * ```
 */
export function parseRetryAfter(headers: HeaderGetter, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // Only date-shaped values: Date.parse alone would read "-3" as a year.
  if (!/[a-z]/i.test(trimmed) || !/\d{1,2}:\d{2}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
