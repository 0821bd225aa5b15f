/**
 * Socket-level behaviour of the gateway with real slow, broken and oversized clients: timeouts answer
 * 408 and free the socket, malformed requests 400, an over-limit body gets its 413 (also with
 * `Expect: 100-continue`), an upload the client abandons is counted as 499 and not logged as an error.
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './harness.js';

const LIMIT = 4096;
let tg: TestGateway;
let port: number;
const logged: string[] = [];

beforeAll(async () => {
  tg = await startTestGateway({
    gateway: { bodyLimit: LIMIT, headersTimeoutMs: 300, requestTimeoutMs: 600, logError: (message) => logged.push(message) },
  });
  port = Number(new URL(tg.url).port);
});
afterAll(async () => {
  await tg.close();
});

function connections(): Promise<number> {
  return new Promise((resolve, reject) => tg.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Polls `fn` until it returns true (bounded). */
async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A client that writes `partial` and then never writes nor closes again. `allowHalfOpen` keeps its own
 * side open after the server's FIN, like a slow or hostile client: only the server can free the socket.
 */
function slowClient(partial: string): { socket: Socket; received: () => string; ended: Promise<void> } {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  socket.write(partial);
  return { socket, received: () => data, ended };
}

describe('slow and broken clients', () => {
  it('a request whose headers or body do not arrive in time gets 408 and its socket is closed by the server', async () => {
    const clients = [
      ...Array.from({ length: 25 }, () => slowClient('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n')),
      ...Array.from({ length: 25 }, () =>
        slowClient('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":'),
      ),
    ];
    try {
      await eventually(async () => (await connections()) === 50);
      await Promise.all(clients.map((c) => c.ended));
      for (const c of clients) {
        expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(c.received()).toContain('"code":"request_timeout"');
      }
      // None of the clients closed its side: the server must not keep the half-open sockets.
      expect(clients.every((c) => !c.socket.destroyed)).toBe(true);
      await eventually(async () => (await connections()) === 0);
      expect(logged).toEqual([]);
      const metrics = tg.gateway.metrics.render();
      expect(metrics).toContain('tokenwarden_requests_total{route="unparsed",status="408"} 25');
      expect(metrics).toContain('tokenwarden_requests_total{route="/v1/chat/completions",status="408"} 25');
    } finally {
      for (const c of clients) c.socket.destroy();
    }
  });

  it('a malformed request gets 400 and the socket is closed; oversized headers 431', async () => {
    const bad = slowClient('NOT-HTTP at all\r\n\r\n');
    const huge = slowClient(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    try {
      await Promise.all([bad.ended, huge.ended]);
      expect(bad.received()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(huge.received()).toMatch(/^HTTP\/1\.1 431 /);
      await eventually(async () => (await connections()) === 0);
    } finally {
      bad.socket.destroy();
      huge.socket.destroy();
    }
  });

  it('an upload the client abandons is counted as 499 and logged as nothing', async () => {
    const before = logged.length;
    const c = slowClient(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"m","messages":',
    );
    await eventually(async () => (await connections()) === 1);
    // Let the handler start reading the body, then vanish.
    await new Promise((r) => setTimeout(r, 50));
    c.socket.destroy();
    await eventually(async () => tg.gateway.metrics.render().includes(`tokenwarden_requests_total{route="/v1/chat/completions",status="499"} 1`));
    expect(tg.gateway.metrics.render()).not.toContain('tokenwarden_requests_total{route="/v1/chat/completions",status="200"}');
    expect(logged.slice(before)).toEqual([]);
    expect(tg.upstream!.requests).toHaveLength(0);
  });
});

/** A POST through node's client with `Expect: 100-continue`; `write` runs once the server says go on. */
function expectContinue(
  headers: Record<string, string | number>,
  write: (req: ReturnType<typeof httpRequest>) => void,
): Promise<{ continued: boolean; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = httpRequest(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', expect: '100-continue', ...headers },
    });
    req.on('continue', () => {
      continued = true;
      write(req);
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('bodies over the limit', () => {
  it('a declared over-limit body with Expect: 100-continue gets the 413 without 100 Continue', async () => {
    const r = await expectContinue({ 'content-length': 10_000 }, (req) => req.end('x'.repeat(10_000)));
    expect(r.continued).toBe(false);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('a body that grows over the limit after 100 Continue still gets the whole 413 before the socket closes', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const r = await expectContinue({ 'transfer-encoding': 'chunked' }, (req) => {
      let sent = 0;
      const pump = (): void => {
        // Bounded: 4 MiB at most, with backpressure.
        while (sent < 64) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      req.on('error', () => undefined);
      pump();
    });
    expect(r.continued).toBe(true);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('a fitting body with Expect: 100-continue is served', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const r = await expectContinue({ 'content-length': Buffer.byteLength(body) }, (req) => req.end(body));
    expect(r.continued).toBe(true);
    expect(r.status).toBe(200);
  });
});

describe('a client that writes its whole body before reading', () => {
  // Default timeouts here: a loaded machine may take longer than the short ones above to move 32 MiB.
  let big: TestGateway;
  beforeAll(async () => {
    big = await startTestGateway({ gateway: { bodyLimit: LIMIT } });
  });
  afterAll(async () => {
    await big.close();
  });

  it('still reads the 413: the server drains the rest instead of resetting the connection', async () => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(big.url).port) });
    socket.pause();
    let data = '';
    let error: string | undefined;
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const chunk = 'x'.repeat(64 * 1024);
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
    for (let i = 0; i < 512; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    socket.write('0\r\n\r\n');
    // Read only after the client is done writing (and the server has had time to answer).
    await new Promise((r) => setTimeout(r, 300));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.resume();
    await closed;
    expect(error).toBeUndefined();
    expect(data).toMatch(/^HTTP\/1\.1 413 /);
    expect(data).toContain('"code":"request_too_large"');
  });
});

describe('a pipelining client that breaks the connection while its first answer streams', () => {
  let piped: TestGateway;
  beforeAll(async () => {
    // Node never closes a queued pipelined response whose socket died, so shutdown waits out its timeout.
    piped = await startTestGateway({ gateway: { shutdownTimeoutMs: 200 } });
  });
  afterAll(async () => {
    await piped.close();
  });

  it('gets no raw error status inside the streaming answer: the server destroys the socket', async () => {
    piped.upstream!.enqueue({ kind: 'ok', content: 'a slow streamed answer in several words', chunkDelayMs: 200 });
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(piped.url).port) });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    // Two requests in one write: the second one's (finished) response waits behind the streaming first.
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(chat)}\r\n\r\n${chat}` +
        'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    );
    try {
      await eventually(() => Promise.resolve(data.includes('data: ')));
      socket.write('NOT-HTTP at all\r\n\r\n');
      await closed;
      expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(data).not.toMatch(/HTTP\/1\.1 4\d\d /);
      expect(data).not.toContain('bad_http_request');
      expect(data).not.toContain('data: [DONE]');
    } finally {
      socket.destroy();
    }
  });
});
