import type { FetchLike } from './fetch-exchange.js';

/** Default response size cap: 10 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Default per-call timeout: 2 minutes (for streams: the longest silence allowed between chunks). */
export const DEFAULT_TIMEOUT_MS = 120_000;

/** Who is being called, and how. */
export interface HttpTarget {
  provider: string;
  backend: string;
  /** An injected fetch; undefined: undici's keep-alive global dispatcher (no fetch layer at all). */
  fetch?: FetchLike | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Strings (API keys) that must never appear in a message. */
  secrets: readonly string[];
}
