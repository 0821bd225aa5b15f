import type { ForwardEvent } from '../../../src/core/types.js';
import { parseSse } from '../../../src/providers/sse.js';
import type { WireStreamReader } from '../../../src/providers/wire/index.js';

/** Reads a captured SSE body the way a backend does: parseSse, then the reader, event by event. */
export async function readSse(reader: WireStreamReader, body: string): Promise<ForwardEvent[]> {
  async function* chunks(): AsyncGenerator<string> {
    yield body;
  }
  const out: ForwardEvent[] = [];
  for await (const ev of parseSse(chunks())) out.push(reader.read({ event: ev.event, data: ev.data }));
  return out;
}

/** An SSE body of unnamed events, one `data:` line each. */
export function dataLines(...data: string[]): string {
  return data.map((d) => `data: ${d}\n\n`).join('');
}

/** An SSE body of named events whose name is the data's `type`, as OpenAI's Responses API and Anthropic send. */
export function namedEvents(...events: Array<Record<string, unknown>>): string {
  return events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

/** The concatenated text of the events. */
export function textOf(events: ForwardEvent[]): string {
  return events.map((e) => e.text ?? '').join('');
}
