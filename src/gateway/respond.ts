import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ThreadUsage } from '../budget/types.js';
import type { HttpError } from './http-error.js';

/** Writes a JSON answer with `Content-Length`. Extra headers are set before `writeHead`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  if (headers) for (const name in headers) res.setHeader(name, headers[name]!);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Writes JSON text as it is (an upstream's answer passed through) with `Content-Length`. */
export function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Writes an OpenAI-shaped error answer (or, once headers are out, just ends the response). */
export function sendError(res: ServerResponse, err: HttpError, body: unknown = err.body()): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  // A client that sent too much must not keep the connection: the rest of its body is unread.
  if (err.status === 413) res.setHeader('connection', 'close');
  const req = res.req as IncomingMessage | undefined;
  if (err.status !== 413 || !req || req.complete) {
    sendJson(res, err.status, body, err.headers);
    return;
  }
  // Closing at once, with the client still sending, resets the connection and the client may never
  // read the 413 (a "broken pipe"). So send the whole answer, keep reading and dropping what the
  // client still sends for a bounded time, and only then close (nginx's "lingering close").
  const text = JSON.stringify(body);
  for (const name in err.headers) res.setHeader(name, err.headers[name]!);
  res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.write(text);
  lingerThenEnd(req, res);
}

/** Longest a refused upload is drained after its 413, and longest pause in it, ms. */
const LINGER_MS = 3000;
const LINGER_IDLE_MS = 500;

function lingerThenEnd(req: IncomingMessage, res: ServerResponse): void {
  let ended = false;
  const done = (): void => {
    if (ended) return;
    ended = true;
    clearTimeout(total);
    clearTimeout(idle);
    req.off('data', onData);
    req.off('end', done);
    req.off('close', done);
    res.end();
  };
  const total = setTimeout(done, LINGER_MS);
  const idle = setTimeout(done, LINGER_IDLE_MS);
  const onData = (): void => void idle.refresh();
  req.on('data', onData);
  req.on('end', done);
  req.on('close', done);
  req.resume();
}

/** Sets `x-budget-limit`, `x-budget-used`, `x-budget-remaining` (and `x-budget-reserved`) from a snapshot. */
export function setBudgetHeaders(res: ServerResponse, usage: ThreadUsage): void {
  res.setHeader('x-budget-limit', String(usage.maxTokens));
  res.setHeader('x-budget-used', String(usage.totalTokens));
  res.setHeader('x-budget-remaining', String(usage.remaining));
  if (usage.reservedTokens > 0) res.setHeader('x-budget-reserved', String(usage.reservedTokens));
}

/** JSON view of a thread's budget (as listed by `GET /v1/threads`). */
export function threadJson(
  thread: { threadId: string; org: string | null },
  usage: ThreadUsage,
  lastActivity: number | null,
): Record<string, unknown> {
  return {
    object: 'thread',
    id: thread.threadId,
    org_id: thread.org,
    max_tokens: usage.maxTokens,
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    reserved_tokens: usage.reservedTokens,
    remaining_tokens: usage.remaining,
    request_count: usage.requestCount,
    percent_used: usage.maxTokens > 0 ? Math.round((10_000 * usage.totalTokens) / usage.maxTokens) / 100 : 0,
    last_activity: lastActivity,
  };
}
