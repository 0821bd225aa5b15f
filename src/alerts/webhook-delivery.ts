import { errorMessage } from '../core/error-fields.js';

/** The `fetch` a delivery uses: the global one, undici's, or a test's. */
export type WebhookFetch = (url: string, init: RequestInit) => Promise<Response>;

/** What one delivery attempt came to. */
export type DeliveryOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      /** Why, for the log: `HTTP 500`, `timed out after 10000 ms`, a network error. */
      error: string;
      status?: number;
      /** From a `Retry-After` header, in ms. */
      retryAfterMs?: number;
    };

/** One POST of a webhook. */
export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborts the attempt (the sender is closing). */
  signal: AbortSignal;
}

/**
 * POSTs one webhook and classifies the answer as Standard Webhooks asks: a 2xx is delivered; anything
 * else (a 3xx too: redirects are not followed), a network error or no answer within `timeoutMs` is a
 * failure to retry. Never throws. The response body is discarded unread, so the connection is freed.
 *
 * @example
 * ```ts
 * const outcome = await deliverWebhook(fetch, { url, headers, body, timeoutMs: 10_000, signal });
 * if (!outcome.ok) console.warn(outcome.error);
 * ```
 */
export async function deliverWebhook(fetchFn: WebhookFetch, req: DeliveryRequest): Promise<DeliveryOutcome> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  try {
    const res = await fetchFn(req.url, { method: 'POST', headers: req.headers, body: req.body, redirect: 'manual', signal });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status <= 299) return { ok: true, status: res.status };
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
    return { ok: false, status: res.status, error: `HTTP ${res.status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  } catch (err) {
    if (timeout.aborted) return { ok: false, error: `no answer within ${req.timeoutMs} ms` };
    if (req.signal.aborted) return { ok: false, error: 'aborted: the alert sender is closing' };
    return { ok: false, error: networkError(err) };
  }
}

/** `Retry-After` as ms: delay-seconds or an HTTP date; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** fetch's `TypeError: fetch failed` hides the reason in `cause` (ECONNREFUSED, …). */
function networkError(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return cause === undefined ? errorMessage(err) : `${errorMessage(err)} (${typeof code === 'string' ? code : errorMessage(cause)})`;
}
