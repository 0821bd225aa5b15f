/**
 * A real gateway in front of a fake OpenAI upstream (models `gpt-*`, `text-*`) and a fake Anthropic
 * upstream (models `claude-*`), each backend with its own upstream key, for the client-library tests;
 * plus a `fetch` that records what a client library really sent, and the thread API as a client sees it.
 */
import { expect } from 'vitest';
import { hashGatewayKey } from '../../../src/gateway/key-ring.js';
import { AnthropicBackend } from '../../../src/providers/anthropic.js';
import { OpenAICompatibleBackend } from '../../../src/providers/openai-compatible.js';
import { startFakeAnthropicServer, type AnthropicScenario } from '../../support/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario, type RecordedRequest } from '../../support/fake-openai-server.js';
import { startTestGateway, type TestGateway } from '../harness.js';

/** The key clients present to the gateway (an admin key, so it may also set thread budgets). */
export const GATEWAY_KEY = 'tw-gateway-key-for-tests';
/** The keys the backends present upstream (never the gateway key). */
export const OPENAI_UPSTREAM_KEY = 'sk-upstream-openai';
export const ANTHROPIC_UPSTREAM_KEY = 'sk-ant-upstream';

export interface ClientGateway {
  /** Gateway base URL without `/v1`. */
  url: string;
  gw: TestGateway;
  openai: FakeServer<OpenAIScenario>;
  anthropic: FakeServer<AnthropicScenario>;
  close(): Promise<void>;
}

/** Starts both fakes and a gateway (keys required, one admin key {@link GATEWAY_KEY}). */
export async function startClientGateway(maxTokensPerThread = 100_000): Promise<ClientGateway> {
  const openai = await startFakeOpenAIServer();
  const anthropic = await startFakeAnthropicServer();
  const gw = await startTestGateway({
    maxTokensPerThread,
    keys: [{ name: 'tests', sha256: hashGatewayKey(GATEWAY_KEY), org: null, admin: true }],
    backends: [
      new OpenAICompatibleBackend({ name: 'openai', baseUrl: openai.url, apiKey: OPENAI_UPSTREAM_KEY, models: ['gpt-*', 'text-*'] }),
      new AnthropicBackend({ name: 'claude', baseUrl: anthropic.url, apiKey: ANTHROPIC_UPSTREAM_KEY, models: ['claude-*'] }),
    ],
  });
  return {
    url: gw.url,
    gw,
    openai,
    anthropic,
    async close() {
      await gw.close();
      await openai.close();
      await anthropic.close();
    },
  };
}

/** One request a client library sent (through {@link recordingFetch}). */
export interface SentRequest {
  url: string;
  headers: Headers;
  body: unknown;
  /** The body text as sent. */
  raw: string | undefined;
}

/** A `fetch` for a client library's `fetch` option that records each request's URL, headers and JSON body. */
export function recordingFetch(sent: SentRequest[]): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const raw = typeof init?.body === 'string' ? init.body : undefined;
    sent.push({ url, headers: new Headers(init?.headers), body: raw === undefined ? undefined : JSON.parse(raw), raw });
    return fetch(input, init);
  };
}

/** The upstream requests to `path` (query string ignored). */
export function callsTo<S>(srv: FakeServer<S>, path: string): RecordedRequest[] {
  return srv.requests.filter((r) => r.path.split('?')[0] === path);
}

/**
 * The client's one request reached `path` upstream once, as sent (see {@link expectForwardedUnchanged});
 * returns that upstream request for further checks (headers, ...).
 */
export function expectOneForwarded<S>(srv: FakeServer<S>, path: string, client: SentRequest): RecordedRequest {
  const upstream = callsTo(srv, path);
  expect(upstream).toHaveLength(1);
  expectForwardedUnchanged(upstream[0]!, client);
  return upstream[0]!;
}

/**
 * The upstream got exactly what the client sent. A chat or completions stream may gain
 * `stream_options.include_usage: true` (the gateway asks for usage to charge it; the Responses and
 * Messages APIs have no such option and report usage anyway); nothing else may differ, and a body the gateway had no
 * reason to touch arrives byte for byte.
 */
export function expectForwardedUnchanged(upstream: RecordedRequest, client: SentRequest): void {
  const clientBody = client.body as Record<string, unknown>;
  const expected: Record<string, unknown> = { ...clientBody };
  const got = upstream.body as Record<string, unknown>;
  const options = got.stream_options as Record<string, unknown> | undefined;
  const path = upstream.path.split('?')[0];
  const hasUsageOption = path === '/v1/chat/completions' || path === '/v1/completions';
  if (hasUsageOption && clientBody.stream === true && options?.include_usage === true) {
    expected.stream_options = { ...(clientBody.stream_options as Record<string, unknown> | undefined), include_usage: true };
  }
  expect(got).toEqual(expected);
  const added = JSON.stringify(expected) !== JSON.stringify(clientBody);
  if (!added) expect(upstream.raw).toBe(client.raw);
}

/** `GET /v1/threads/{id}` on the gateway, as its JSON. */
export async function threadOf(cg: ClientGateway, id: string): Promise<Record<string, number>> {
  const res = await fetch(`${cg.url}/v1/threads/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, number>;
}

/** `PUT /v1/threads/{id}/budget` `{ max_tokens }` on the gateway. */
export async function setBudget(cg: ClientGateway, id: string, maxTokens: number): Promise<void> {
  const res = await fetch(`${cg.url}/v1/threads/${encodeURIComponent(id)}/budget`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ max_tokens: maxTokens }),
  });
  expect(res.status).toBe(200);
}

/** Asserts the thread was charged exactly this usage, and one event per call was stored for it. */
export async function expectCharged(cg: ClientGateway, thread: string, prompt: number, completion: number, events = 1): Promise<void> {
  const t = await threadOf(cg, thread);
  expect({ prompt: t.prompt_tokens, completion: t.completion_tokens, total: t.total_tokens, reserved: t.reserved_tokens }).toEqual({
    prompt,
    completion,
    total: prompt + completion,
    reserved: 0,
  });
  const stored = await cg.gw.store.query({ threadId: thread });
  expect(stored.events).toHaveLength(events);
}

/**
 * A cut stream was charged for what was delivered: the thread paid something, more than nothing on the
 * completion side, holds no reservation, and the call's event is stored.
 */
export async function expectCutStreamCharged(cg: ClientGateway, thread: string): Promise<void> {
  const t = await threadOf(cg, thread);
  expect(t.total_tokens).toBeGreaterThan(0);
  expect(t.completion_tokens).toBeGreaterThan(0);
  expect(t.reserved_tokens).toBe(0);
  const stored = await cg.gw.store.query({ threadId: thread });
  expect(stored.events).toHaveLength(1);
  expect(stored.events[0]!.completionTokens).toBeGreaterThan(0);
}
