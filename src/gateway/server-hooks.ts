import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Status written straight to the socket for a request that never reached a handler's answer. */
const rawStatus = new WeakMap<ServerResponse, number>();
/**
 * The responses of each socket not yet finished, oldest first: with HTTP pipelining a later request's
 * response waits in Node's queue while an earlier one still streams. One WeakMap entry per socket.
 */
const socketResponses = new WeakMap<Duplex, ServerResponse[]>();

function track(req: IncomingMessage, res: ServerResponse): void {
  const list = socketResponses.get(req.socket);
  if (list === undefined) socketResponses.set(req.socket, [res]);
  else {
    pruneFinished(list);
    list.push(res);
  }
}

function pruneFinished(list: ServerResponse[]): void {
  while (list.length > 0 && list[0]?.writableFinished === true) list.shift();
}

/**
 * The response in flight on a socket: the one that owns it. Node assigns the public `res.socket` only to
 * the response being written on the socket (queued pipelined responses get it on their turn) and clears
 * it on finish; that is the response Node's private `socket._httpMessage` holds, read without reaching in.
 */
function inFlightResponse(socket: Duplex): ServerResponse | undefined {
  const list = socketResponses.get(socket);
  if (list === undefined) return undefined;
  pruneFinished(list);
  return list.find((res) => res.socket === socket);
}

/**
 * The status to count for a finished response: what was sent, 408/400/431 when the server answered a
 * broken or too slow request on the socket itself, else 499 (the client left before any answer).
 */
export function recordedStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : (rawStatus.get(res) ?? 499);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
/** How long a socket may take to flush the error answer before it is cut anyway, ms. */
const FLUSH_MS = 1000;

function clientErrorStatus(code: string | undefined): number {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  return 400;
}

/**
 * Answers a malformed or too slow request (headers or body not received within the server's timeouts)
 * with 400/431/408 and then destroys the socket. Half-closing it instead (`socket.end()`) would keep the
 * descriptor until the client closes its side, which a slow or hostile client never does.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex, onUnparsed: (status: number) => void): void {
  const inFlight = inFlightResponse(socket);
  // A client that reset or closed its side mid-request has left: nothing to answer (counted as 499).
  const left = err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE';
  if (left || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const status = clientErrorStatus(err.code);
  // A request with a response object is counted when that response closes; one whose headers never
  // arrived (or did not parse) has none, so it is counted here.
  if (inFlight) rawStatus.set(inFlight, status);
  else onUnparsed(status);
  const message =
    status === 408
      ? 'The request was not received in time (server.headers_timeout_ms / server.request_timeout_ms)'
      : `Malformed HTTP request: ${err.code ?? err.message}`;
  const body = JSON.stringify({
    error: { message, type: 'invalid_request_error', code: status === 408 ? 'request_timeout' : 'bad_http_request', param: null },
  });
  const cut = setTimeout(() => socket.destroy(), FLUSH_MS);
  cut.unref();
  socket.once('close', () => clearTimeout(cut));
  socket.write(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  // End and, once the answer is flushed, destroy: never wait for the client to close its side.
  const soon = (socket as Duplex & { destroySoon?: () => void }).destroySoon;
  if (typeof soon === 'function') soon.call(socket);
  else socket.end(() => socket.destroy());
}

/** Options of {@link attachServerHooks}. */
export interface ServerHookOptions {
  bodyLimit: number;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Called with the status answered to a request that never got as far as a handler (408, 400, 431). */
  onUnparsed: (status: number) => void;
}

/**
 * Installs the gateway's socket-level handlers: client errors (above) and `Expect: 100-continue`,
 * answered with `100 Continue` only when the declared body fits `bodyLimit`. A client told to go on
 * would start a body the gateway refuses and then meet a closed socket instead of the 413.
 */
export function attachServerHooks(server: Server, options: ServerHookOptions): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket, options.onUnparsed));
  server.prependListener('request', track);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    track(req, res);
    const declared = req.headers['content-length'];
    if (!(declared !== undefined && Number(declared) > options.bodyLimit)) res.writeContinue();
    options.handler(req, res);
  });
}

/** Server timeouts the gateway uses unless configured: short enough that a slowloris frees its socket. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** How often node checks the timeouts: often enough for them to be honoured within about a quarter. */
export function checkingIntervalFor(headersTimeoutMs: number, requestTimeoutMs: number): number {
  return Math.min(1000, Math.max(10, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4)));
}
