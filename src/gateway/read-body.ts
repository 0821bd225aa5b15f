import type { IncomingMessage } from 'node:http';
import { HttpError, badRequest } from './http-error.js';

/** 413 for a body over `limit` bytes. */
function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    'invalid_request_error',
    'request_too_large',
    `Request body is larger than the gateway's limit of ${limit} bytes (server.body_limit)`,
  );
}

function clientLeft(): HttpError {
  return new HttpError(499, 'invalid_request_error', 'client_closed_request', 'Client closed the connection before sending the whole body');
}

/**
 * Reads a request body of at most `limit` bytes. Rejects with a 413 {@link HttpError} as soon as the
 * declared `Content-Length` or the bytes received exceed the limit (it stops buffering; the caller
 * answers with `Connection: close`).
 *
 * @example
 * ```ts
 * const buf = await readBody(req, 1 << 20);
 * ```
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        finish(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    // The request stream only fails when the client's connection does ("aborted", a reset): the
    // client left, which is not the gateway's error (no 500, no stack in the log).
    const onError = (): void => finish(clientLeft());
    const onClose = (): void => finish(clientLeft());
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        // Stop buffering: drop what is still coming so the socket can be closed after the answer.
        req.resume();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and parses a JSON body. Malformed JSON → 400 `invalid_json` with the parser's message;
 * an empty body → 400 `missing_body`.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return (await readJsonText(req, limit)).json;
}

/** {@link readJsonBody}, also returning the body's text as received (what a pass-through sends on as it is). */
export async function readJsonText(req: IncomingMessage, limit: number): Promise<{ json: unknown; text: string }> {
  const buf = await readBody(req, limit);
  if (buf.length === 0) throw badRequest(null, 'Request body is empty: expected a JSON object', 'missing_body');
  const text = buf.toString('utf8');
  try {
    return { json: JSON.parse(text) as unknown, text };
  } catch (err) {
    throw badRequest(null, `Request body is not valid JSON: ${(err as Error).message}`, 'invalid_json');
  }
}
