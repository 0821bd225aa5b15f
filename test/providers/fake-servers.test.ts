import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startFakeOpenAIServer } from '../support/fake-openai-server.js';
import { startFakeAnthropicServer } from '../support/fake-anthropic-server.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

async function post(url: string, body: unknown): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}

describe('fake OpenAI server', () => {
  it('answers plain and streaming requests, records them, and takes queued scenarios in order', async () => {
    const srv = await startFakeOpenAIServer();
    closers.push(srv.close);
    srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' }, body: { error: { message: 'slow down' } } });
    const first = await post(`${srv.url}/chat/completions`, { model: 'gpt-x', messages: [] });
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBe('3');
    const second = await post(`${srv.url}/chat/completions`, { model: 'gpt-x', messages: [] });
    expect(JSON.parse(second.text)).toMatchObject({ model: 'gpt-x', choices: [{ message: { content: expect.any(String) } }], usage: { prompt_tokens: 12 } });
    const streamed = await post(`${srv.url}/chat/completions`, { model: 'gpt-x', stream: true, stream_options: { include_usage: true } });
    expect(streamed.text).toContain('data: [DONE]');
    expect(streamed.text).toContain('"prompt_tokens":12');
    const noUsage = await post(`${srv.url}/chat/completions`, { model: 'gpt-x', stream: true });
    expect(noUsage.text).not.toContain('prompt_tokens');
    expect(srv.requests).toHaveLength(4);
    expect(srv.requests[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { model: 'gpt-x' } });
  });

  it('closes hanging connections on close', async () => {
    const srv = await startFakeOpenAIServer();
    srv.setDefault({ kind: 'hang' });
    const pending = post(`${srv.url}/chat/completions`, {}).catch((e: unknown) => e);
    while (srv.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await srv.close();
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('fake Anthropic server', () => {
  it('streams message events with usage', async () => {
    const srv = await startFakeAnthropicServer();
    closers.push(srv.close);
    srv.enqueue({ kind: 'ok', content: 'a b', usage: { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 1 } });
    const res = await post(`${srv.url}/v1/messages`, { model: 'claude-x', stream: true });
    const events = [...res.text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(events).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(res.text).toContain('"cache_read_input_tokens":1');
  });
});
