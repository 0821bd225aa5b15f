import { ValidationError } from '../core/errors.js';

/** The unit of a budget window: seconds, minutes, hours, days, weeks or calendar months. */
export type WindowUnit = 's' | 'm' | 'h' | 'd' | 'w' | 'mo';

/** A budget window: `count` units long, fixed and aligned in UTC. */
export interface BudgetWindow {
  count: number;
  unit: WindowUnit;
}

/** The current window of a budget: when it started and when it resets (epoch ms, UTC). */
export interface WindowSpan {
  start: number;
  resetsAt: number;
}

const UNIT_MS: Record<Exclude<WindowUnit, 'mo'>, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** 1970-01-05, the first Monday after the epoch: weeks are aligned to it, so `1w` is the ISO week (Monday to Monday). */
const FIRST_MONDAY = 4 * 86_400_000;
const WINDOW = /^([1-9]\d{0,5})(s|m|h|d|w|mo)$/;

/**
 * Parses a window such as `30s`, `15m`, `1h`, `1d`, `1w`, `1mo` (`N` from 1 to 999,999 of seconds,
 * minutes, hours, days, weeks or calendar months). Throws a `ValidationError` naming `field`.
 *
 * @example
 * ```ts
 * parseWindow('1mo'); // { count: 1, unit: 'mo' }
 * parseWindow('90x', 'policies[0].window'); // ValidationError: policies[0].window: must be like 30s, 15m, 1h, 1d, 1w or 1mo
 * ```
 */
export function parseWindow(text: unknown, field = 'window'): BudgetWindow {
  const m = typeof text === 'string' ? WINDOW.exec(text.trim()) : null;
  if (!m) throw new ValidationError(field, text, 'must be like 30s, 15m, 1h, 1d, 1w or 1mo (a whole number from 1, then s, m, h, d, w or mo)');
  return { count: Number(m[1]), unit: m[2] as WindowUnit };
}

/**
 * The window holding `now`, fixed and aligned in UTC: `1d` is the UTC day, `1w` the ISO week from Monday,
 * `1mo` the calendar month; `N` units count from the epoch (days, hours, ...), from 1970-01-05 (weeks) or
 * from January 1970 (months), so every instance of a gateway, before and after a restart, agrees on it.
 *
 * @example
 * ```ts
 * windowAt({ count: 1, unit: 'mo' }, Date.UTC(2026, 10, 30, 17)); // { start: Date.UTC(2026, 10, 1), resetsAt: Date.UTC(2026, 11, 1) }
 * ```
 */
export function windowAt(window: BudgetWindow, now: number): WindowSpan {
  const { count, unit } = window;
  if (unit === 'mo') {
    const date = new Date(now);
    const months = date.getUTCFullYear() * 12 + date.getUTCMonth() - 1970 * 12;
    const first = months - (((months % count) + count) % count);
    return { start: Date.UTC(1970, first, 1), resetsAt: Date.UTC(1970, first + count, 1) };
  }
  const length = count * UNIT_MS[unit];
  const origin = unit === 'w' ? FIRST_MONDAY : 0;
  const start = origin + Math.floor((now - origin) / length) * length;
  return { start, resetsAt: start + length };
}
