/**
 * The adapter-level fault matrix, run against both wire formats: each fault a provider can produce
 * must surface as the right error class, code, isRetryable and retryAfterMs — and never leak the key.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallAbortedError, ProviderError } from '../../src/core/errors.js';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import type { Backend, BackendRequest, StreamChunk } from '../../src/core/types.js';
import { startFakeAnthropicServer } from '../support/fake-anthropic-server.js';
import { startFakeOpenAIServer } from '../support/fake-openai-server.js';
import type { FakeServer, FaultScenario } from '../support/fake-server-core.js';

type CommonScenario = FaultScenario | { kind: 'truncated-stream'; chunks: number } | { kind: 'ok'; content?: string; chunkDelayMs?: number; delayMs?: number };

interface AdapterCase {
  label: string;
  key: string;
  start(): Promise<FakeServer<CommonScenario>>;
  make(url: string, extra?: { timeoutMs?: number; maxResponseBytes?: number }): Backend & { stream(r: BackendRequest): AsyncIterable<StreamChunk> };
  errorBody(message: string): unknown;
}

const cases: AdapterCase[] = [
  {
    label: 'openai-compatible',
    key: 'sk-proj-SECRET-openai-key-42',
    start: startFakeOpenAIServer,
    make: (url, extra) => new OpenAICompatibleBackend({ name: 'oa', baseUrl: url, apiKey: 'sk-proj-SECRET-openai-key-42', models: '*', ...extra }),
    errorBody: (message) => ({ error: { message, type: 'invalid_request_error', code: null } }),
  },
  {
    label: 'anthropic',
    key: 'sk-ant-SECRET-anthropic-key-42',
    start: startFakeAnthropicServer,
    make: (url, extra) => new AnthropicBackend({ name: 'an', baseUrl: url, apiKey: 'sk-ant-SECRET-anthropic-key-42', models: '*', ...extra }),
    errorBody: (message) => ({ type: 'error', error: { type: 'invalid_request_error', message } }),
  },
];

const request = (extra: Partial<BackendRequest> = {}): BackendRequest => ({
  model: 'm-1',
  messages: [{ role: 'user', content: 'hello' }],
  ...extra,
});

async function streamOutcome(iter: AsyncIterable<StreamChunk>): Promise<{ chunks: StreamChunk[]; error: unknown }> {
  const chunks: StreamChunk[] = [];
  try {
    for await (const c of iter) chunks.push(c);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

/** Everything an error exposes: message, stack, JSON, inspect output, along the whole cause chain. */
function exposedText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) parts.push(current.message, current.stack ?? '');
    parts.push(JSON.stringify(current) ?? '', inspect(current, { depth: 5, showHidden: true }));
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

for (const adapter of cases) {
  describe(`fault matrix: ${adapter.label}`, () => {
    let srv: FakeServer<CommonScenario>;
    const errors: unknown[] = [];
    beforeAll(async () => {
      srv = await adapter.start();
    });
    afterAll(() => srv.close());
    beforeEach(() => {
      srv.requests.length = 0;
      srv.setDefault({ kind: 'ok' });
    });

    async function failComplete(extra?: Parameters<AdapterCase['make']>[1], req?: BackendRequest): Promise<ProviderError> {
      const err = await adapter.make(srv.url, extra).complete(req ?? request()).then(
        () => undefined,
        (e: unknown) => e,
      );
      errors.push(err);
      expect(err).toBeInstanceOf(ProviderError);
      return err as ProviderError;
    }

    it('429 with Retry-After in seconds → retryable RATE_LIMITED with retryAfterMs', async () => {
      srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: adapter.errorBody('Rate limit reached') });
      const err = await failComplete();
      expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 429, isRetryable: true, retryAfterMs: 2000 });
      expect(err.message).toContain('Rate limit reached');
      expect(err.message).toContain(adapter.make(srv.url).name);
      expect(err.provider).toBe(adapter.make(srv.url).provider);
    });

    it('429 with Retry-After as an HTTP date → retryAfterMs until that date', async () => {
      const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 5000);
      srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': at.toUTCString() } });
      const err = await failComplete();
      expect(err.isRetryable).toBe(true);
      expect(err.retryAfterMs).toBeGreaterThan(3000);
      expect(err.retryAfterMs).toBeLessThanOrEqual(6000);
    });

    it('honours retry-after-ms over retry-after', async () => {
      srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } });
      expect((await failComplete()).retryAfterMs).toBe(250);
    });

    for (const status of [500, 502, 503, 529, 408]) {
      it(`${status} → retryable PROVIDER_UNAVAILABLE`, async () => {
        srv.enqueue({ kind: 'status', status, body: 'upstream trouble' });
        const err = await failComplete();
        expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', status, isRetryable: true, retryAfterMs: undefined });
        expect(err.message).toContain(`HTTP ${status}`);
        expect(err.message).toContain('upstream trouble');
      });
    }

    for (const [status, code] of [
      [400, 'INVALID_REQUEST'],
      [401, 'AUTHENTICATION_FAILED'],
      [403, 'AUTHENTICATION_FAILED'],
      [404, 'NOT_FOUND'],
      [422, 'INVALID_REQUEST'],
    ] as const) {
      it(`${status} → not retryable ${code}, with the provider's message`, async () => {
        srv.enqueue({ kind: 'status', status, body: adapter.errorBody(`problem number ${status}`) });
        const err = await failComplete();
        expect(err).toMatchObject({ code, status, isRetryable: false });
        expect(err.message).toContain(`problem number ${status}`);
        expect(err.message).toContain(`answered HTTP ${status}`);
      });
    }

    it('a 401 body echoing the API key is redacted', async () => {
      srv.enqueue({ kind: 'status', status: 401, body: adapter.errorBody(`Incorrect API key provided: ${adapter.key}.`) });
      const err = await failComplete();
      expect(err.message).toContain('Incorrect API key provided: [REDACTED]');
      expect(exposedText(err)).not.toContain(adapter.key);
    });

    it('timeout → retryable TIMEOUT (complete and stream)', async () => {
      srv.setDefault({ kind: 'hang' });
      const err = await failComplete({ timeoutMs: 150 });
      expect(err).toMatchObject({ code: 'TIMEOUT', isRetryable: true, status: undefined });
      expect(err.message).toContain('150 ms');
      const streamed = await streamOutcome(adapter.make(srv.url, { timeoutMs: 150 }).stream(request()));
      expect(streamed.error).toBeInstanceOf(ProviderError);
      expect(streamed.error).toMatchObject({ code: 'TIMEOUT', isRetryable: true });
    });

    it('a stream that goes silent mid-way → TIMEOUT after the deltas received', async () => {
      srv.enqueue({ kind: 'ok', content: 'one two three four', chunkDelayMs: 1000 });
      const { chunks, error } = await streamOutcome(adapter.make(srv.url, { timeoutMs: 200 }).stream(request()));
      expect(chunks).toEqual([{ type: 'delta', content: 'one' }]);
      expect(error).toMatchObject({ code: 'TIMEOUT', isRetryable: true });
    });

    it('a slow but steady stream is not cut by the timeout (it measures silence)', async () => {
      srv.enqueue({ kind: 'ok', content: 'a b c d e f', chunkDelayMs: 150 });
      const { chunks, error } = await streamOutcome(adapter.make(srv.url, { timeoutMs: 500 }).stream(request()));
      expect(error).toBeUndefined();
      expect(chunks.filter((c) => c.type === 'delta')).toHaveLength(6);
    });

    it('connection reset → retryable CONNECTION_ERROR (complete and stream)', async () => {
      srv.setDefault({ kind: 'reset' });
      const err = await failComplete();
      expect(err).toMatchObject({ code: 'CONNECTION_ERROR', isRetryable: true, status: undefined });
      const streamed = await streamOutcome(adapter.make(srv.url).stream(request()));
      expect(streamed.error).toMatchObject({ code: 'CONNECTION_ERROR', isRetryable: true });
    });

    it('nothing listening → retryable CONNECTION_ERROR', async () => {
      const dead = await adapter.start();
      const url = dead.url;
      await dead.close();
      const err = await adapter.make(url).complete(request()).catch((e: unknown) => e);
      errors.push(err);
      expect(err).toMatchObject({ code: 'CONNECTION_ERROR', isRetryable: true });
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
    });

    it('malformed JSON → MALFORMED_RESPONSE naming provider and status, not retryable', async () => {
      srv.enqueue({ kind: 'malformed' });
      const err = await failComplete();
      expect(err).toMatchObject({ code: 'MALFORMED_RESPONSE', status: 200, isRetryable: false });
      expect(err.message).toContain(adapter.make(srv.url).provider);
      expect(err.message).toContain('HTTP 200');
      expect(err.message).toContain('not valid JSON');
    });

    it('a JSON body without choices/content → MALFORMED_RESPONSE', async () => {
      srv.enqueue({ kind: 'status', status: 200, body: { id: 'x', object: 'something else' } });
      const err = await failComplete();
      expect(err).toMatchObject({ code: 'MALFORMED_RESPONSE', status: 200, isRetryable: false });
      expect(err.message).toMatch(/"(choices|content)"/);
    });

    it('a malformed stream event → MALFORMED_RESPONSE after the good deltas', async () => {
      srv.enqueue({ kind: 'malformed' });
      const { error } = await streamOutcome(adapter.make(srv.url).stream(request()));
      expect(error).toMatchObject({ code: 'MALFORMED_RESPONSE', isRetryable: false, status: 200 });
    });

    it('truncated stream → deltas first, then retryable STREAM_TRUNCATED', async () => {
      srv.enqueue({ kind: 'truncated-stream', chunks: 3 });
      const { chunks, error } = await streamOutcome(adapter.make(srv.url).stream(request()));
      expect(chunks).toEqual([
        { type: 'delta', content: 'part0 ' },
        { type: 'delta', content: 'part1 ' },
        { type: 'delta', content: 'part2 ' },
      ]);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ code: 'STREAM_TRUNCATED', isRetryable: true });
      errors.push(error);
    });

    it('a body cut mid-way (non-streaming) → retryable CONNECTION_ERROR', async () => {
      srv.enqueue({ kind: 'truncated-stream', chunks: 1 });
      const err = await failComplete();
      expect(err).toMatchObject({ code: 'CONNECTION_ERROR', isRetryable: true });
    });

    it('oversized body → RESPONSE_TOO_LARGE naming the backend and the cap (complete and stream)', async () => {
      srv.enqueue({ kind: 'oversized', bytes: 200_000 });
      const err = await failComplete({ maxResponseBytes: 50_000 });
      expect(err).toMatchObject({ code: 'RESPONSE_TOO_LARGE', isRetryable: false });
      expect(err.message).toContain('50000-byte cap');
      expect(err.message).toContain(JSON.stringify(adapter.make(srv.url).name));
      srv.enqueue({ kind: 'oversized', bytes: 200_000 });
      const { chunks, error } = await streamOutcome(adapter.make(srv.url, { maxResponseBytes: 50_000 }).stream(request({ })));
      expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', isRetryable: false });
      const delivered = chunks.map((c) => (c.type === 'delta' ? c.content.length : 0)).reduce((a, b) => a + b, 0);
      expect(delivered).toBeLessThanOrEqual(50_000);
      // The server is still fine afterwards.
      await expect(adapter.make(srv.url).complete(request())).resolves.toMatchObject({ finishReason: 'stop' });
    });

    it('an oversized body within the default 10 MiB cap is accepted', async () => {
      srv.enqueue({ kind: 'oversized', bytes: 100_000 });
      const err = await failComplete();
      // 100 kB of valid JSON without choices/content: it was read fully, then judged malformed.
      expect(err.code).toBe('MALFORMED_RESPONSE');
    });

    it('caller abort → CallAbortedError("aborted"), not retryable (complete and stream)', async () => {
      srv.setDefault({ kind: 'hang' });
      const controller = new AbortController();
      const pending = adapter.make(srv.url).complete(request({ signal: controller.signal })).catch((e: unknown) => e);
      while (srv.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      const err = await pending;
      expect(err).toBeInstanceOf(CallAbortedError);
      expect(err).toMatchObject({ code: 'ABORTED', reason: 'aborted' });
      expect((err as { isRetryable?: boolean }).isRetryable).not.toBe(true);

      srv.setDefault({ kind: 'ok', content: 'a b c d e f g', chunkDelayMs: 40 });
      const streamController = new AbortController();
      const seen: StreamChunk[] = [];
      const streamErr = await (async () => {
        for await (const c of adapter.make(srv.url).stream(request({ signal: streamController.signal }))) {
          seen.push(c);
          if (seen.length === 2) streamController.abort();
        }
      })().catch((e: unknown) => e);
      expect(streamErr).toBeInstanceOf(CallAbortedError);
      expect(seen).toHaveLength(2);
    });

    it('an already-aborted signal sends nothing', async () => {
      const err = await adapter.make(srv.url).complete(request({ signal: AbortSignal.abort() })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CallAbortedError);
      expect(srv.requests).toHaveLength(0);
    });

    it('a signal from AbortSignal.timeout() → CallAbortedError("timeout"); a CallAbortedError reason is passed through', async () => {
      srv.setDefault({ kind: 'hang' });
      const err = await adapter.make(srv.url).complete(request({ signal: AbortSignal.timeout(50) })).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'CallAbortedError', reason: 'timeout', code: 'TIMEOUT' });
      const own = new CallAbortedError('timeout', 'router deadline');
      const controller = new AbortController();
      controller.abort(own);
      await expect(adapter.make(srv.url).complete(request({ signal: controller.signal }))).rejects.toBe(own);
    });

    it('the API key never appears in an error, its JSON, its cause chain, or the backend itself', () => {
      expect(errors.length).toBeGreaterThan(10);
      for (const err of errors) expect(exposedText(err)).not.toContain(adapter.key);
      const b = adapter.make(srv.url);
      expect(JSON.stringify(b)).not.toContain(adapter.key);
      expect(inspect(b, { showHidden: true, depth: 5 })).not.toContain(adapter.key);
      expect(Object.values(b).join(' ')).not.toContain(adapter.key);
    });
  });
}
