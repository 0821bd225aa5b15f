/**
 * The injected-fetch transport: a caller-supplied fetch (proxy, logging, test double) adapted to an
 * {@link Exchange}. Without one, the adapters use undici's dispatcher directly (undici-exchange.ts).
 */
import { concatBytes, type Exchange, type HeaderGetter } from './exchange.js';

/** The subset of a fetch Response the adapters use. undici's and Node's global fetch satisfy it. */
export interface FetchResponseLike {
  status: number;
  headers: HeaderGetter;
  body: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array }>;
      cancel(reason?: unknown): Promise<void>;
    };
  } | null;
}

/** Request options the adapters pass to fetch. */
export interface FetchInitLike {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  redirect: 'manual';
}

/**
 * A fetch implementation. Inject one to add a proxy, logging or a test double.
 *
 * @example
 * ```ts
 * const backend = new OpenAICompatibleBackend({ name: 'a', baseUrl, models: ['*'], fetch: (url, init) => fetch(url, init) });
 * ```
 */
export type FetchLike = (url: string, init: FetchInitLike) => Promise<FetchResponseLike>;

type BodyReader = ReturnType<NonNullable<FetchResponseLike['body']>['getReader']>;

/** POSTs through `fetch` (redirects never followed) and wraps its response as an {@link Exchange}. */
export async function fetchExchange(fetch: FetchLike, url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Exchange> {
  return exchangeOf(await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' }));
}

function exchangeOf(response: FetchResponseLike): Exchange {
  let reader: BodyReader | undefined;
  let cancelled = false;
  const getReader = (): BodyReader | undefined => (reader ??= response.body?.getReader());
  const ex: Exchange = {
    status: response.status,
    headers: response.headers,
    async read() {
      const r = getReader();
      if (!r) return undefined;
      while (true) {
        const step = await r.read();
        if (step.done) return undefined;
        if (step.value) return step.value;
      }
    },
    readAll: (limit, onOverflow) => readAllOf(ex, limit, onOverflow),
    cancel() {
      if (cancelled) return;
      cancelled = true;
      getReader()?.cancel().catch(() => undefined);
    },
  };
  return ex;
}

async function readAllOf(ex: Exchange, limit: number, onOverflow: (() => Error) | undefined): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const value = await ex.read();
    if (value === undefined) break;
    if (total + value.byteLength > limit) {
      ex.cancel();
      if (onOverflow) throw onOverflow();
      parts.push(value.subarray(0, limit - total));
      total = limit;
      break;
    }
    parts.push(value);
    total += value.byteLength;
  }
  return concatBytes(parts, total);
}
