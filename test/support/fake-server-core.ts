/**
 * Shared plumbing of the fake provider servers (fake-openai-server.ts, fake-anthropic-server.ts):
 * a real node:http server on 127.0.0.1 port 0 that records requests and answers each one with the
 * next queued scenario (or the default). The wire format is supplied by the caller as a `respond`
 * function; the generic fault scenarios (status, reset, hang, malformed, oversized) live here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the fake server received it. `body` is parsed JSON, or the raw text if it was not JSON. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The body exactly as it arrived (utf-8), for byte-level pass-through checks. */
  raw: string;
  /** Client port of the connection it came on (equal ports = a reused keep-alive connection). */
  remotePort: number | undefined;
}

/** Scenarios every fake server understands, whatever its wire format. */
export type FaultScenario =
  /** Answer with this status, headers and body (an object is sent as JSON). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Destroy the socket without answering (connection reset). */
  | { kind: 'reset' }
  /** Never answer; the connection is destroyed when the server closes. */
  | { kind: 'hang' }
  /** 200 with a body that is not valid JSON (or, for a stream, an SSE event whose data is not JSON). */
  | { kind: 'malformed' }
  /** 200 with a body of about `bytes` bytes (valid JSON / SSE, only too big). */
  | { kind: 'oversized'; bytes: number };

/** Context handed to a wire-format responder. */
export interface RespondContext {
  req: IncomingMessage;
  res: ServerResponse;
  body: Record<string, unknown>;
  stream: boolean;
  /** Resolves after `ms` ms; rejects-free, and resolves early (returning false) if the server closes. */
  sleep(ms: number): Promise<boolean>;
}

/** A running fake server. `S` is its scenario type. */
export interface FakeServer<S> {
  /** Base URL (e.g. `http://127.0.0.1:43123/v1` for OpenAI). */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The next request(s) take queued scenarios in order; afterwards the default applies. */
  enqueue(...scenarios: S[]): void;
  /** Scenario used when the queue is empty. */
  setDefault(scenario: S): void;
  /** Closes the server and destroys every open connection (including hanging ones). */
  close(): Promise<void>;
}

export interface CoreOptions<S> {
  /** Path prefix appended to the URL (`/v1` for OpenAI, `` for Anthropic). */
  urlSuffix: string;
  initialDefault: S;
  /** Writes a wire-format answer for the scenarios that are not generic faults. */
  respond(scenario: S, ctx: RespondContext): Promise<void>;
  /** Writes a stream body of about `bytes` bytes. */
  oversizedStream(bytes: number, ctx: RespondContext): void;
  /** Writes an SSE event whose data is not JSON. */
  malformedStream(ctx: RespondContext): void;
}

/** Starts a fake server; see {@link FakeServer}. */
export async function startFakeServer<S extends { kind: string }>(options: CoreOptions<S>): Promise<FakeServer<S>> {
  const requests: RecordedRequest[] = [];
  const queue: S[] = [];
  let fallback = options.initialDefault;
  let closed = false;
  const sockets = new Set<Socket>();
  const wakers = new Set<() => void>();

  const sleep = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (closed) return resolve(false);
      const wake = (): void => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        wakers.delete(wake);
        resolve(true);
      }, ms);
      wakers.add(wake);
    });

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // keep raw text
      }
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        body,
        raw,
        remotePort: req.socket.remotePort,
      });
      const scenario = queue.length > 0 ? (queue.shift() as S) : fallback;
      const obj = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
      const ctx: RespondContext = { req, res, body: obj, stream: obj.stream === true, sleep };
      handle(scenario, ctx).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(scenario: S, ctx: RespondContext): Promise<void> {
    const fault = scenario as unknown as FaultScenario;
    const { res } = ctx;
    switch (fault.kind) {
      case 'status': {
        const isText = typeof fault.body === 'string';
        const text = fault.body === undefined ? '' : isText ? (fault.body as string) : JSON.stringify(fault.body);
        res.writeHead(fault.status, {
          'content-type': isText ? 'text/plain' : 'application/json',
          ...fault.headers,
        });
        res.end(text);
        return;
      }
      case 'reset':
        ctx.req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'malformed':
        if (ctx.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          options.malformedStream(ctx);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"id": "broken", "choices": [ {"message": ');
        }
        return;
      case 'oversized':
        if (ctx.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          options.oversizedStream(fault.bytes, ctx);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ padding: 'x'.repeat(Math.max(0, fault.bytes)) }));
        }
        return;
      default:
        await options.respond(scenario, ctx);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${options.urlSuffix}`,
    requests,
    enqueue: (...scenarios) => void queue.push(...scenarios),
    setDefault: (scenario) => void (fallback = scenario),
    close: async () => {
      closed = true;
      for (const wake of [...wakers]) wake();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

/** Writes one SSE event. */
export function writeSse(res: ServerResponse, data: string, event?: string): void {
  res.write((event ? `event: ${event}\n` : '') + `data: ${data}\n\n`);
}

/** Splits text into word-sized deltas ("Hello there" → ["Hello", " there"]). */
export function splitDeltas(text: string): string[] {
  return text.match(/\s*\S+/g) ?? (text ? [text] : []);
}
