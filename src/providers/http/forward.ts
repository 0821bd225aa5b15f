import type { ForwardEvent, ForwardRequest, ForwardResponse } from '../../core/types.js';
import { attemptScopeOf } from '../../core/abort.js';
import { isPlainObject } from '../../core/objects.js';
import { abortError } from '../call-errors.js';
import { parseSse } from '../sse.js';
import { wireReader } from '../wire/index.js';
import { malformed, streamTruncated } from './errors.js';
import { JsonText, postJson, postStream } from './post.js';
import type { HttpTarget } from './target.js';

/** The upstream URL with the client's query string, when it sent one. */
function withQuery(url: string, request: ForwardRequest): string {
  return request.query ? `${url}?${request.query}` : url;
}

/**
 * Sends a pass-through request (its body unchanged) and reads its JSON answer: the body as sent, and the
 * usage and model the API's wire reader finds in it. Throws like `postJson` (status errors, timeouts).
 */
export async function forwardJson(target: HttpTarget, base: string, headers: Record<string, string>, request: ForwardRequest): Promise<ForwardResponse> {
  const url = withQuery(base, request);
  const sent = request.rawBody === undefined ? request.body : new JsonText(request.rawBody);
  const { status, json, text } = await postJson(target, url, headers, sent, attemptScopeOf(request) ?? request.signal);
  if (!isPlainObject(json)) throw malformed(target, status, 'the body is not a JSON object');
  const reader = wireReader(request.api);
  const out: ForwardResponse = { body: json, rawBody: text };
  const usage = reader.usage(json);
  if (usage) out.usage = usage;
  const model = reader.model(json);
  if (model !== undefined) out.model = model;
  return out;
}

/**
 * Sends a pass-through streaming request (its body unchanged) and yields every server-sent event as sent,
 * read by the API's wire reader (text, usage, end). Stops after the event that ends the answer; a stream
 * that ends before one throws a retryable `STREAM_TRUNCATED` after yielding what arrived.
 */
export async function* forwardSse(target: HttpTarget, base: string, headers: Record<string, string>, request: ForwardRequest): AsyncGenerator<ForwardEvent, void, undefined> {
  const url = withQuery(base, request);
  const abort = attemptScopeOf(request) ?? request.signal;
  const answer = await postStream(target, url, headers, request.rawBody === undefined ? request.body : new JsonText(request.rawBody), abort);
  const reader = wireReader(request.api).stream();
  try {
    for await (const sse of parseSse(answer.body)) {
      // Events already buffered must not outrun the caller's abort.
      if (abort?.aborted) throw abortError(abort, target);
      let event: ForwardEvent;
      try {
        event = reader.read(sse.event === 'message' ? { data: sse.data } : { event: sse.event, data: sse.data });
      } catch (err) {
        throw malformed(target, answer.status, 'a stream event is not JSON', err);
      }
      yield event;
      if (event.done) return;
    }
    throw streamTruncated(target, answer.status, 'the stream ended before its last event');
  } finally {
    answer.close();
  }
}
