/**
 * What a web page can do to a gateway on the same machine: a keyless gateway serves only loopback
 * `Host` names and JSON bodies, refuses foreign `Origin`s and answers CORS preflights only for
 * `server.cors_origins`; real clients (curl with the JSON header, the openai SDK) keep working.
 */
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { HELLO, startTestGateway, type TestGateway } from './harness.js';

const run = promisify(execFile);
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string; param: string | null } } & Record<string, unknown>;
}

/** A raw request through node:http, which (unlike fetch) lets a test set `Host` and `Origin` like a browser would. */
function send(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: Answer['body'];
        try {
          parsed = text ? (JSON.parse(text) as Answer['body']) : {};
        } catch {
          parsed = { text };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('keyless gateway (quick start)', () => {
  let tg: TestGateway;
  let host: string;
  beforeAll(async () => {
    tg = await startTestGateway({ gateway: { corsOrigins: ['http://localhost:5173'] } });
    host = new URL(tg.url).host;
  });
  afterAll(async () => {
    await tg.close();
  });

  it('refuses bodies a page can send cross-site without a preflight (415 naming the header)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const r = await send(tg.url, 'POST', '/v1/chat/completions', type ? { 'content-type': type } : {}, CHAT);
      expect(r.status, String(type)).toBe(415);
      expect(r.body.error).toMatchObject({ code: 'unsupported_media_type', param: 'content-type' });
      expect(r.body.error!.message).toContain('application/json');
    }
    const put = await send(tg.url, 'PUT', '/v1/threads/t1/budget', { 'content-type': 'text/plain' }, '{"max_tokens":1}');
    expect(put.status).toBe(415);
    expect(tg.upstream!.requests).toHaveLength(0);
    const ok = await send(tg.url, 'POST', '/v1/chat/completions', { 'content-type': 'application/json; charset=utf-8' }, CHAT);
    expect(ok.status).toBe(200);
  });

  it('answers only loopback Host names (DNS rebinding gets 421)', async () => {
    const port = new URL(tg.url).port;
    for (const name of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example:${port}`, `0.0.0.0:${port}`]) {
      const r = await send(tg.url, 'GET', '/v1/usage/summary', { host: name });
      expect(r.status, name).toBe(421);
      expect(r.body.error).toMatchObject({ code: 'host_not_allowed', param: 'host' });
      expect(r.body.error!.message).toContain('loopback');
    }
    // HTTP/1.0 lets a request leave out Host: without keys that is refused too.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('GET /v1/usage/summary HTTP/1.0\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toMatch(/^HTTP\/1\.[01] 421 /);
    expect(raw).toContain('no Host header');
    const put = await send(tg.url, 'PUT', '/v1/threads/rebound/budget', { host: `evil.example:${port}`, 'content-type': 'application/json' }, '{"max_tokens":1}');
    expect(put.status).toBe(421);
    expect((await send(tg.url, 'GET', '/v1/threads/rebound', {})).status).toBe(404);
    for (const name of [`localhost:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await send(tg.url, 'GET', '/v1/models', { host: name })).status, name).toBe(200);
    }
  });

  it('refuses requests from other web origins, preflights included', async () => {
    const read = await send(tg.url, 'GET', '/v1/usage/summary', { origin: 'https://evil.example' });
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: 'origin_not_allowed', param: 'origin' });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
    const chat = await send(tg.url, 'POST', '/v1/chat/completions', { origin: 'https://evil.example', 'content-type': 'application/json' }, CHAT);
    expect(chat.status).toBe(403);
    const preflight = await send(tg.url, 'OPTIONS', '/v1/chat/completions', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(tg.upstream!.requests.length).toBeLessThanOrEqual(1);
    // The dashboard's own origin (the gateway itself) is fine.
    expect((await send(tg.url, 'GET', '/v1/usage/summary', { origin: `http://${host}` })).status).toBe(200);
  });

  it('answers CORS for a configured origin', async () => {
    const origin = 'http://localhost:5173';
    const preflight = await send(tg.url, 'OPTIONS', '/v1/chat/completions', {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, x-thread-id, x-stainless-os',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': origin,
      'access-control-allow-headers': 'content-type, x-thread-id, x-stainless-os',
    });
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    expect(preflight.headers.vary).toContain('origin');
    const chat = await send(tg.url, 'POST', '/v1/chat/completions', { origin, 'content-type': 'application/json', 'x-thread-id': 'cors-1' }, CHAT);
    expect(chat.status).toBe(200);
    expect(chat.headers['access-control-allow-origin']).toBe(origin);
    expect(chat.headers['access-control-expose-headers']).toContain('x-budget-remaining');
    // Still JSON only, even from an allowed origin.
    expect((await send(tg.url, 'POST', '/v1/chat/completions', { origin, 'content-type': 'text/plain' }, CHAT)).status).toBe(415);
  });

  it('keeps curl (with the JSON header) and the openai SDK working', async () => {
    const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', `${tg.url}/v1/chat/completions`, '-H', 'content-type: application/json', '-H', 'x-thread-id: curl', '-d', CHAT]);
    expect(stdout.trim().split('\n').at(-1)).toBe('200');
    // Without the header curl sends application/x-www-form-urlencoded: refused with a message saying what to send.
    const bare = await run('curl', ['-s', `${tg.url}/v1/chat/completions`, '-d', CHAT]);
    expect(bare.stdout).toContain('content-type: application/json');

    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }, { headers: { 'x-thread-id': 'sdk' } });
    expect(answer.choices[0]!.message.content).toBeTruthy();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(Array.isArray(models.data)).toBe(true);
  });
});

describe('gateway with keys', () => {
  const secret = 'sk-test-browser-guard';
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway({ keys: [{ name: 'app', sha256: hashGatewayKey(secret), org: 'acme' }] });
  });
  afterAll(async () => {
    await tg.close();
  });

  it('stays lenient on Content-Type and Host, but still refuses foreign origins', async () => {
    const auth = { authorization: `Bearer ${secret}` };
    const plain = await send(tg.url, 'POST', '/v1/chat/completions', { ...auth, 'content-type': 'text/plain' }, CHAT);
    expect(plain.status).toBe(200);
    const named = await send(tg.url, 'GET', '/v1/usage/summary', { ...auth, host: 'gateway.internal:4000' });
    expect(named.status).toBe(200);
    const foreign = await send(tg.url, 'GET', '/v1/usage/summary', { ...auth, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error!.code).toBe('origin_not_allowed');
  });
});
