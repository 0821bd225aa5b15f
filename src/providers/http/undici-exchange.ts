/**
 * The default transport: one POST on undici's global dispatcher (a keep-alive connection pool per
 * origin, no pipelining, redirects never followed), driven by a plain dispatch handler. The handler
 * serves both kinds of answer: a JSON body read in one piece (no Readable stream, header object or
 * async-resource bookkeeping as `request()` does per call) and a streamed SSE body pulled chunk by chunk
 * with backpressure. Cancelling needs no AbortSignal: {@link DispatchExchange.cancel} aborts the request
 * through the handle undici gives the handler.
 */
import { getGlobalDispatcher } from 'undici';
import { concatBytes, type Exchange, type HeaderGetter } from './exchange.js';

/** Streamed bodies: undici is paused while this many bytes wait for the reader, resumed when it catches up. */
const STREAM_HIGH_WATER_BYTES = 64 * 1024;

/** A parsed request URL, as undici's dispatcher takes it. */
interface UrlParts {
  origin: string;
  path: string;
}

// Adapters call a handful of fixed URLs; parse each once. Bounded: cleared when it grows past 256.
const urlCache = new Map<string, UrlParts>();

function urlParts(url: string): UrlParts {
  let parts = urlCache.get(url);
  if (!parts) {
    const u = new URL(url);
    parts = { origin: u.origin, path: `${u.pathname}${u.search}` };
    if (urlCache.size >= 256) urlCache.clear();
    urlCache.set(url, parts);
  }
  return parts;
}

/** Response header lookup over undici's raw `[name, value, ...]` buffers, parsed on first use. */
function rawHeaderGetter(raw: Buffer[]): HeaderGetter {
  let parsed: Map<string, string> | undefined;
  return {
    get(name: string): string | null {
      if (!parsed) {
        parsed = new Map();
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const key = raw[i]!.toString('latin1').toLowerCase();
          const value = raw[i + 1]!.toString('latin1');
          const prev = parsed.get(key);
          parsed.set(key, prev === undefined ? value : `${prev}, ${value}`);
        }
      }
      return parsed.get(name.toLowerCase()) ?? null;
    },
  };
}

const NO_HEADERS = rawHeaderGetter([]);

/** How the body of a {@link DispatchExchange} is kept. */
interface DispatchBodyMode {
  /** Bytes kept at most: beyond them the connection is dropped (Infinity for streams: the reader enforces its cap). */
  hardCap: number;
  /** Pause undici while unread chunks pile up (streams); a whole-body read never pauses. */
  streamed: boolean;
}

/**
 * One exchange on undici's dispatcher: a legacy-shaped dispatch handler (the shape undici's own
 * `request()` handler implements) plus the pull side the post functions read from.
 */
class DispatchExchange implements Exchange {
  status = 0;
  headers: HeaderGetter = NO_HEADERS;
  private parts: Buffer[] = [];
  private total = 0;
  private overflowed = false;
  private ended = false;
  private failure: unknown;
  private cancelTransport: ((err: Error) => void) | undefined;
  private resumeTransport: (() => void) | undefined;
  private paused = false;
  private collecting: boolean;
  private cancelled = false;
  private drained = false;
  /** The waiting reader is woken once more than this many bytes are held. */
  private wakeAbove = Infinity;
  private onBody: (() => void) | undefined;

  constructor(
    private readonly mode: DispatchBodyMode,
    private onHead: { resolve: (ex: Exchange) => void; reject: (err: unknown) => void } | undefined,
  ) {
    this.collecting = !mode.streamed;
  }

  // --- undici dispatch handler ---

  onConnect(abort: (err: Error) => void): void {
    if (this.cancelled) abort(new Error('request aborted'));
    else this.cancelTransport = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.headers = rawHeaderGetter(rawHeaders);
    this.resumeTransport = resume;
    const head = this.onHead;
    this.onHead = undefined;
    head?.resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.overflowed || this.cancelled) return true;
    if (this.total + chunk.byteLength > this.mode.hardCap) {
      this.overflowed = true;
      this.parts.push(chunk.subarray(0, this.mode.hardCap - this.total));
      this.total = this.mode.hardCap;
      this.cancel();
      this.finish();
      return true;
    }
    this.parts.push(chunk);
    this.total += chunk.byteLength;
    if (this.total > this.wakeAbove) this.wake();
    if (this.collecting || this.total < STREAM_HIGH_WATER_BYTES) return true;
    this.paused = true;
    return false;
  }

  onComplete(): void {
    this.finish();
  }

  onError(err: unknown): void {
    const head = this.onHead;
    if (head) {
      this.onHead = undefined;
      this.ended = true;
      head.reject(err);
      return;
    }
    if (this.ended) return;
    this.failure = err;
    this.finish();
  }

  // --- pull side ---

  /** Next chunk; the whole body at once when not streamed. Chunks received before a failure come first. */
  async read(): Promise<Uint8Array | undefined> {
    if (!this.mode.streamed) return this.readWhole();
    while (this.parts.length === 0) {
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      await this.waitForBytesAbove(0);
    }
    const chunk = this.parts.shift()!;
    this.total -= chunk.byteLength;
    if (this.paused && this.total < STREAM_HIGH_WATER_BYTES) {
      this.paused = false;
      this.resumeTransport?.();
    }
    return chunk;
  }

  private async readWhole(): Promise<Uint8Array | undefined> {
    if (this.drained) return undefined;
    this.drained = true;
    const bytes = await this.readAll(this.mode.hardCap, undefined);
    return bytes.byteLength > 0 ? bytes : undefined;
  }

  async readAll(limit: number, onOverflow: (() => Error) | undefined): Promise<Uint8Array> {
    if (!this.collecting) {
      this.collecting = true;
      if (this.paused) {
        this.paused = false;
        this.resumeTransport?.();
      }
    }
    if (!this.ended && this.total <= limit) await this.waitForBytesAbove(limit);
    if (this.total > limit || this.overflowed) {
      this.cancel();
      if (onOverflow) throw onOverflow();
      const bytes = concatBytes(this.parts, this.total);
      return bytes.byteLength > limit ? bytes.subarray(0, limit) : bytes;
    }
    if (this.failure !== undefined) throw this.failure;
    return concatBytes(this.parts, this.total);
  }

  /** Cancels the request (before or after its headers) unless it has completed; the connection is then closed. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (!this.ended) this.cancelTransport?.(new Error('request aborted'));
  }

  private waitForBytesAbove(bytes: number): Promise<void> {
    this.wakeAbove = bytes;
    return new Promise<void>((resolve) => {
      this.onBody = resolve;
    });
  }

  private wake(): void {
    const wake = this.onBody;
    this.onBody = undefined;
    this.wakeAbove = Infinity;
    wake?.();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }
}

/** POSTs `body` on undici's global dispatcher; resolves with the exchange once the response headers are in. */
export function dispatchExchange(url: string, headers: Record<string, string>, body: string, mode: DispatchBodyMode): { exchange: Promise<Exchange>; handle: DispatchExchange } {
  const { origin, path } = urlParts(url);
  let handle!: DispatchExchange;
  const exchange = new Promise<Exchange>((resolve, reject) => {
    handle = new DispatchExchange(mode, { resolve, reject });
  });
  // The call's own AbortScope timer bounds every phase; undici's 300 s timers would only cut it short.
  getGlobalDispatcher().dispatch({ origin, path, method: 'POST', headers, body, headersTimeout: 0, bodyTimeout: 0 }, handle);
  return { exchange, handle };
}
