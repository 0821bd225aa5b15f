import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { parseWindow, windowAt } from '../../src/budget/windows.js';

const at = (iso: string): number => Date.parse(iso);
const span = (window: string, now: string) => {
  const { start, resetsAt } = windowAt(parseWindow(window), at(now));
  return [new Date(start).toISOString(), new Date(resetsAt).toISOString()];
};

describe('budget windows', () => {
  it('parses every unit and refuses anything else, naming the field', () => {
    expect(['30s', '15m', '1h', '1d', '2w', '1mo', ' 3mo '].map((w) => parseWindow(w))).toEqual([
      { count: 30, unit: 's' }, { count: 15, unit: 'm' }, { count: 1, unit: 'h' }, { count: 1, unit: 'd' },
      { count: 2, unit: 'w' }, { count: 1, unit: 'mo' }, { count: 3, unit: 'mo' },
    ]);
    for (const bad of ['0d', '1y', 'd', '1.5h', '-1d', '1 d', '', 5, null, '1000000s', '1M']) {
      expect(() => parseWindow(bad, 'policies[2].window')).toThrow(ValidationError);
      expect(() => parseWindow(bad, 'policies[2].window')).toThrow(/policies\[2\]\.window: must be like 30s/);
    }
  });

  it('aligns days, hours and minutes in UTC', () => {
    expect(span('1d', '2026-11-30T23:59:59.999Z')).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    expect(span('1d', '2026-12-01T00:00:00.000Z')).toEqual(['2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z']);
    expect(span('6h', '2026-11-30T17:12:00Z')).toEqual(['2026-11-30T12:00:00.000Z', '2026-11-30T18:00:00.000Z']);
    expect(span('15m', '2026-11-30T17:12:00Z')).toEqual(['2026-11-30T17:00:00.000Z', '2026-11-30T17:15:00.000Z']);
  });

  it('makes 1w the ISO week, Monday to Monday', () => {
    expect(span('1w', '2026-11-30T10:00:00Z')).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z']); // a Monday
    expect(span('1w', '2026-12-06T23:00:00Z')).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z']); // the Sunday after
  });

  it('makes 1mo the calendar month, whatever its length, leap Februaries included', () => {
    expect(span('1mo', '2026-11-30T17:00:00Z')).toEqual(['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    expect(span('1mo', '2026-12-31T23:59:59Z')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(span('1mo', '2028-02-29T12:00:00Z')).toEqual(['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    expect(span('3mo', '2026-11-30T00:00:00Z')).toEqual(['2026-10-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']); // quarters
  });

  it('puts every instant in exactly one window, with no gap between consecutive ones', () => {
    for (const w of ['7s', '1h', '5d', '2w', '5mo']) {
      const window = parseWindow(w);
      let now = at('2026-01-01T00:00:00Z');
      for (let i = 0; i < 50; i++) {
        const { start, resetsAt } = windowAt(window, now);
        expect(start).toBeLessThanOrEqual(now);
        expect(resetsAt).toBeGreaterThan(now);
        expect(windowAt(window, resetsAt).start).toBe(resetsAt);
        expect(windowAt(window, resetsAt - 1).start).toBe(start);
        now = resetsAt + 12_345;
      }
    }
  });
});
