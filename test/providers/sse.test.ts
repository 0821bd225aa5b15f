import { describe, expect, it } from 'vitest';
import { parseSse, type SseEvent } from '../../src/providers/sse.js';

async function* fromChunks(chunks: Array<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  for (const c of chunks) yield c;
}

async function collect(chunks: Array<Uint8Array | string>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of parseSse(fromChunks(chunks))) out.push(ev);
  return out;
}

const enc = new TextEncoder();

describe('parseSse', () => {
  const stream =
    ': a comment\n' +
    'event: message_start\ndata: {"a":1}\n\n' +
    'data: line one\r\ndata: line two\r\n\r\n' +
    'id: 7\rdata:no-space\r\r' +
    'event: ping\ndata: {}\n\n' +
    'data: héllo wörld ✓ 😀\n\n' +
    'data: [DONE]\n\n';
  const expected: SseEvent[] = [
    { event: 'message_start', data: '{"a":1}' },
    { event: 'message', data: 'line one\nline two' },
    { event: 'message', data: 'no-space', id: '7' },
    { event: 'ping', data: '{}', id: '7' },
    { event: 'message', data: 'héllo wörld ✓ 😀', id: '7' },
    { event: 'message', data: '[DONE]', id: '7' },
  ];

  it('parses comments, named events, multi-line data and LF / CRLF / CR line endings', async () => {
    expect(await collect([stream])).toEqual(expected);
  });

  it('gives the same events however the bytes are split (every split point, including inside CRLF and UTF-8)', async () => {
    const bytes = enc.encode(stream);
    for (let cut = 1; cut < bytes.length; cut++) {
      const events = await collect([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(events, `split at byte ${cut}`).toEqual(expected);
    }
  });

  it('gives the same events when fed one byte at a time', async () => {
    const bytes = enc.encode(stream);
    const singles = Array.from(bytes, (b) => Uint8Array.of(b));
    expect(await collect(singles)).toEqual(expected);
  });

  it('ignores events without data and unknown fields, and drops one leading space only', async () => {
    const events = await collect(['event: lonely\n\nretry: 10\nfoo: bar\ndata:  two spaces\ndata\n\n']);
    expect(events).toEqual([{ event: 'message', data: ' two spaces\n' }]);
  });

  it('dispatches a final event whose lines ended, but drops a partial last line', async () => {
    expect(await collect(['data: a\n\ndata: complete\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'complete' },
    ]);
    expect(await collect(['data: a\n\ndata: {"cut'])).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('yields every complete event before rethrowing a source error', async () => {
    async function* broken(): AsyncGenerator<string> {
      yield 'data: one\n\ndata: two\n\ndata: thr';
      throw new Error('socket hang up');
    }
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const ev of parseSse(broken())) seen.push(ev.data);
      })(),
    ).rejects.toThrow('socket hang up');
    expect(seen).toEqual(['one', 'two']);
  });
});
