import { CliArgumentError } from '../argv.js';

const MS_PER_DAY = 86_400_000;
const DATE_OR_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Epoch ms of a `--since`/`--until` value. A bare date is a UTC day: its start for `--since`, the start
 * of the next day for `--until` (so the named day is included). A time without a zone is UTC.
 *
 * @example
 * ```ts
 * parseReportDate('--until', '2025-06-30', true); // Date.UTC(2025, 6, 1)
 * ```
 */
export function parseReportDate(flag: string, value: string, isUntil: boolean): number {
  const m = DATE_OR_TIME.exec(value);
  if (!m) {
    throw new CliArgumentError(`${flag} must be a date (YYYY-MM-DD) or ISO 8601 time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]) (got ${JSON.stringify(value)})`);
  }
  const [, y, mo, d, hh, mm, ss, frac, zone] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const dayStart = Date.UTC(year, month - 1, day);
  const check = new Date(dayStart);
  if (month < 1 || month > 12 || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    throw new CliArgumentError(`${flag}: ${value} is not a calendar date`);
  }
  if (hh === undefined) return isUntil ? dayStart + MS_PER_DAY : dayStart;
  const hours = Number(hh), minutes = Number(mm), seconds = Number(ss ?? 0);
  if (hours > 23 || minutes > 59 || seconds > 59) throw new CliArgumentError(`${flag}: ${value} is not a valid time of day`);
  const ms = dayStart + ((hours * 60 + minutes) * 60 + seconds) * 1000 + Math.round(Number(frac ?? 0) * 1000);
  return zone && zone !== 'Z' ? ms - offsetMs(flag, value, zone) : ms;
}

/** A `±HH:MM` or `±HHMM` UTC offset in ms. */
function offsetMs(flag: string, value: string, zone: string): number {
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offH = Number(digits.slice(0, 2)), offM = Number(digits.slice(2, 4));
  if (offH > 23 || offM > 59) throw new CliArgumentError(`${flag}: ${value} has an invalid UTC offset`);
  return sign * (offH * 60 + offM) * 60_000;
}
