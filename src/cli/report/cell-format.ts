/** How the report writes one value: money (exact and rounded USD), counts, CSV cells, instants. */

/** Exact USD with 9 decimals from integer nano-USD, e.g. 1234567890 -> "1.234567890". */
export function usdExact(nanos: number): string {
  const n = BigInt(Math.trunc(nanos));
  const neg = n < 0n;
  const abs = neg ? -n : n;
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** USD rounded half-up to 6 decimals (micro-dollars), with thousands separators. */
export function usdRounded(nanos: number): string {
  const micros = (BigInt(Math.trunc(nanos)) + 500n) / 1000n;
  const whole = (micros / 1_000_000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${whole}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
}

/** `12,345`. */
export function formatInteger(n: number): string {
  return n.toLocaleString('en-US');
}

/** A CSV cell, quoted when it holds a quote, comma or line break. */
export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** An epoch-ms instant as ISO 8601, or `null` when absent. */
export function isoOrNull(v: number | Date | undefined): string | null {
  return v === undefined ? null : new Date(v).toISOString();
}
