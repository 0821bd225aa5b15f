/**
 * The HTTP-edge settings as users deploy them: `tokenwarden serve` in a child process with
 * `server.headers_timeout_ms`, `server.request_timeout_ms` and `server.cors_origins` in its YAML.
 * Needs `npm run build` (dist/cli/main.js).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_MAIN, startServeProcess, type ServeProcess } from '../support/serve-process.js';

let dir: string;
let gw: ServeProcess;
let port: number;

beforeAll(async () => {
  expect(existsSync(SERVE_MAIN), 'dist/cli/main.js is missing: run `npm run build` first').toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'tw-serve-edge-'));
  const config = join(dir, 'tokenwarden.yaml');
  await writeFile(
    config,
    `server:
  port: 0
  headers_timeout_ms: 1000
  request_timeout_ms: 2000
  cors_origins: [http://localhost:5173]
store: { sqlite: ${join(dir, 'usage.db')} }
`,
  );
  gw = await startServeProcess(config);
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw?.stop();
  await rm(dir, { recursive: true, force: true });
});

function get(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${gw.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('tokenwarden serve: the HTTP edge from its config', () => {
  it('answers a slowloris with 408 after server.headers_timeout_ms and frees its socket', async () => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    const closed = new Promise<string>((resolve) => {
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      socket.on('close', () => resolve('closed'));
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ');
    await new Promise<void>((resolve) => socket.once('end', resolve));
    expect(data).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // The server has closed its whole socket, not only its sending side: a write meets a reset.
    const poke = setInterval(() => socket.writable && socket.write('a'), 50);
    try {
      const how = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still open after 5 s'), 5000))]);
      expect(['ECONNRESET', 'EPIPE', 'closed']).toContain(how);
    } finally {
      clearInterval(poke);
      socket.destroy();
    }
  });

  it('guards keyless mode and answers CORS only for server.cors_origins', async () => {
    expect((await get('GET', '/v1/models', { host: `evil.example:${port}` })).status).toBe(421);
    const ok = await get('OPTIONS', '/v1/chat/completions', { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' });
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const other = await get('OPTIONS', '/v1/chat/completions', { origin: 'http://localhost:8080', 'access-control-request-method': 'POST' });
    expect(other.status).toBe(403);
  });

  it('serves /readyz next to /healthz', async () => {
    const r = await get('GET', '/readyz', {});
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ status: 'ok', checks: { store: { status: 'ok' }, ledger: { status: 'ok' } } });
    expect((await get('GET', '/healthz', {})).status).toBe(200);
  });
});
