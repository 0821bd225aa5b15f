/** One HTTP exchange as the post functions see it, whatever the transport (undici's dispatcher or an injected fetch). */

/** Response header lookup (a fetch `Headers` satisfies it). */
export interface HeaderGetter {
  get(name: string): string | null;
}

/** One HTTP exchange: status, headers and a pull-based body. */
export interface Exchange {
  status: number;
  headers: HeaderGetter;
  /** Next body chunk; `undefined` at the end. */
  read(): Promise<Uint8Array | undefined>;
  /** Reads the rest of the body, at most `limit` bytes: beyond it, `onOverflow` decides (throw, or truncate). */
  readAll(limit: number, onOverflow: (() => Error) | undefined): Promise<Uint8Array>;
  /** Drops the body and frees (or closes) the connection. Idempotent. */
  cancel(): void;
}

const NO_BYTES = new Uint8Array(0);

/** Joins body chunks (no copy for zero or one chunk). */
export function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return parts.length === 0 ? NO_BYTES : Buffer.concat(parts, total);
}
