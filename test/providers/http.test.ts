import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/providers/call-errors.js';
import { statusError } from '../../src/providers/http/errors.js';
import type { FetchLike } from '../../src/providers/http/fetch-exchange.js';
import { postJson } from '../../src/providers/http/post.js';
import { parseRetryAfter } from '../../src/providers/http/retry-after.js';
import type { HttpTarget } from '../../src/providers/http/target.js';
import { createModelMatcher } from '../../src/providers/model-match.js';

const headers = (h: Record<string, string>): { get(name: string): string | null } => ({
  get: (name) => h[name.toLowerCase()] ?? null,
});

const target = (fetch: FetchLike): HttpTarget => ({
  provider: 'openai',
  backend: 'b1',
  fetch,
  timeoutMs: 1000,
  maxResponseBytes: 1024,
  secrets: ['sk-secret-123'],
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads seconds, fractional seconds, HTTP dates and retry-after-ms', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(parseRetryAfter(headers({ 'retry-after': ' 1.5 ' }), now)).toBe(1500);
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now)).toBe(7000);
    expect(parseRetryAfter(headers({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfter(headers({ 'retry-after-ms': '120.4', 'retry-after': '60' }), now)).toBe(121);
    expect(parseRetryAfter(headers({ 'retry-after-ms': 'soon', 'retry-after': '2' }), now)).toBe(2000);
  });
  it('returns undefined when absent or unreadable', () => {
    expect(parseRetryAfter(headers({}), now)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': 'later' }), now)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': '-3' }), now)).toBeUndefined();
  });
});

describe('statusError', () => {
  const t = target(async () => {
    throw new Error('unused');
  });
  it('reads OpenAI, Anthropic, Ollama and vLLM error bodies, and redacts secrets', () => {
    expect(statusError(t, 400, headers({}), '{"error":{"message":"bad thing"}}').message).toBe('openai backend "b1" answered HTTP 400: bad thing');
    expect(statusError(t, 400, headers({}), '{"type":"error","error":{"type":"invalid_request_error","message":"m"}}').message).toContain(
      'invalid_request_error: m',
    );
    expect(statusError(t, 404, headers({}), '{"error":"model \\"x\\" not found"}').message).toContain('model "x" not found');
    expect(statusError(t, 422, headers({}), '{"detail":"field required"}').message).toContain('field required');
    expect(statusError(t, 401, headers({}), 'key sk-secret-123 is wrong').message).toContain('key [REDACTED] is wrong');
    expect(statusError(t, 500, headers({}), 'x'.repeat(2000)).message.length).toBeLessThan(600);
  });
  it('reads Retry-After only on retryable statuses', () => {
    expect(statusError(t, 503, headers({ 'retry-after': '4' }), '').retryAfterMs).toBe(4000);
    expect(statusError(t, 400, headers({ 'retry-after': '4' }), '').retryAfterMs).toBeUndefined();
    expect(statusError(t, 302, headers({}), '')).toMatchObject({ isRetryable: false, code: 'PROVIDER_ERROR' });
  });
});

describe('postJson with an injected fetch', () => {
  it('rejects a declared Content-Length above the cap without reading the body', async () => {
    let read = false;
    const fetch: FetchLike = async () => ({
      status: 200,
      headers: headers({ 'content-length': '999999' }),
      body: {
        getReader: () => ({
          read: async () => {
            read = true;
            return { done: true };
          },
          cancel: async () => undefined,
        }),
      },
    });
    await expect(postJson(target(fetch), 'http://x', {}, {}, undefined)).rejects.toMatchObject({ code: 'RESPONSE_TOO_LARGE' });
    expect(read).toBe(false);
  });

  it('maps a thrown network error to a retryable CONNECTION_ERROR with the cause kept', async () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    const fetch: FetchLike = async () => {
      throw new TypeError('fetch failed', { cause });
    };
    const err = await postJson(target(fetch), 'http://x', {}, {}, undefined).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONNECTION_ERROR', isRetryable: true });
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(((err as Error).cause as Error).cause).toBe(cause);
  });
});

describe('redact and model matching', () => {
  it('redacts every occurrence, ignoring very short secrets', () => {
    expect(redactSecrets('a KEY1234 b KEY1234', ['KEY1234'])).toBe('a [REDACTED] b [REDACTED]');
    expect(redactSecrets('abc', ['b'])).toBe('abc');
  });
  it('matches exact names and prefixes', () => {
    const serves = createModelMatcher('models', ['gpt-4o', 'claude-*']);
    expect(serves('gpt-4o')).toBe(true);
    expect(serves('gpt-4o-mini')).toBe(false);
    expect(serves('claude-sonnet-4')).toBe(true);
    expect(() => createModelMatcher('models', 'a*b')).toThrow(/models\[0\]/);
    expect(() => createModelMatcher('models', [3])).toThrow(/models\[0\]: must be a non-empty string/);
  });
});
