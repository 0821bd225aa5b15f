/**
 * Server-sent events parser shared by the provider adapters.
 *
 * Follows the WHATWG event-stream rules: lines end in LF, CRLF or CR (a CRLF split across two chunks
 * counts once), `:` lines are comments, `data` lines of one event are joined with `\n`, an event is
 * dispatched at a blank line, and a single space after the colon is dropped. UTF-8 characters split
 * across chunks are decoded correctly. At a clean end of input, an event whose lines were all complete
 * is still dispatched (some servers omit the final blank line); a partial last line is discarded.
 */

/** One dispatched event. `event` is `message` when the stream did not name it. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Parses a byte (or string) stream into SSE events. Errors thrown by `source` propagate unchanged,
 * after every event completed before them has been yielded.
 *
 * @example
 * ```ts
 * for await (const ev of parseSse(response.body)) {
 *   if (ev.data === '[DONE]') break;
 *   console.log(ev.event, JSON.parse(ev.data));
 * }
 * ```
 */
export async function* parseSse(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let skipLeadingLf = false;
  let data: string[] = [];
  let hasData = false;
  let eventType = '';
  let lastId: string | undefined;

  // Returns the event to dispatch when `line` is blank, else records the field.
  const takeLine = (line: string): SseEvent | undefined => {
    if (line === '') {
      if (!hasData) {
        eventType = '';
        return undefined;
      }
      const ev: SseEvent = { event: eventType || 'message', data: data.join('\n') };
      if (lastId !== undefined) ev.id = lastId;
      data = [];
      hasData = false;
      eventType = '';
      return ev;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    if (field === 'data') {
      data.push(value);
      hasData = true;
    } else if (field === 'event') {
      eventType = value;
    } else if (field === 'id' && !value.includes('\0')) {
      lastId = value;
    }
    return undefined;
  };

  for await (const chunk of source) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (skipLeadingLf && text.length > 0) {
      if (text.charCodeAt(0) === 10) text = text.slice(1);
      skipLeadingLf = false;
    }
    if (text.length === 0) continue;
    // The carried-over partial line holds no line break, so scanning resumes after it.
    let i = buffer.length;
    buffer += text;
    let start = 0;
    for (; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const ev = takeLine(buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          skipLeadingLf = true;
        }
      }
      start = i + 1;
      if (ev) yield ev;
    }
    buffer = buffer.slice(start);
  }
  // Clean end of input: dispatch an event whose lines all ended; a partial last line is dropped.
  // (A flushed decoder tail holds no line break, so it can only extend the discarded partial line.)
  decoder.decode();
  if (hasData) {
    const ev = takeLine('');
    if (ev) yield ev;
  }
}
