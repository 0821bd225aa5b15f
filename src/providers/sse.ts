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
  const reader = new SseReader();
  const ready: SseEvent[] = [];
  for await (const chunk of source) {
    reader.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }), ready);
    for (let i = 0; i < ready.length; i++) yield ready[i]!;
    ready.length = 0;
  }
  // Clean end of input: dispatch an event whose lines all ended; a partial last line is dropped.
  // (A flushed decoder tail holds no line break, so it can only extend the discarded partial line.)
  decoder.decode();
  const last = reader.end();
  if (last) yield last;
}

/** The event-stream state machine: text in, complete events out. */
class SseReader {
  /** The partial line carried over from the previous text (it holds no line break). */
  private buffer = '';
  /** The previous text ended in CR: a LF starting the next one belongs to that line break. */
  private skipLeadingLf = false;
  private data: string[] = [];
  private hasData = false;
  private eventType = '';
  private lastId: string | undefined;

  /** Splits `text` into lines (LF, CRLF or CR) and pushes the events they complete onto `out`. */
  feed(text: string, out: SseEvent[]): void {
    if (this.skipLeadingLf && text.length > 0) {
      if (text.charCodeAt(0) === 10) text = text.slice(1);
      this.skipLeadingLf = false;
    }
    if (text.length === 0) return;
    // The carried-over partial line holds no line break, so scanning resumes after it.
    let i = this.buffer.length;
    const buffer = this.buffer + text;
    let start = 0;
    for (; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const ev = this.takeLine(buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
      if (ev) out.push(ev);
    }
    this.buffer = buffer.slice(start);
  }

  /** At a clean end of input: the event whose lines all ended, if one is pending. */
  end(): SseEvent | undefined {
    return this.hasData ? this.takeLine('') : undefined;
  }

  /** Returns the event to dispatch when `line` is blank, else records the field. */
  private takeLine(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58 /* ':' */) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'event') {
      this.eventType = value;
    } else if (field === 'id' && !value.includes('\0')) {
      this.lastId = value;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (!this.hasData) {
      this.eventType = '';
      return undefined;
    }
    const ev: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n') };
    if (this.lastId !== undefined) ev.id = this.lastId;
    this.data = [];
    this.hasData = false;
    this.eventType = '';
    return ev;
  }
}
