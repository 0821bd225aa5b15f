/**
 * Starts a real tokenwarden gateway on 127.0.0.1 port 0 in front of a fake OpenAI upstream (or a mock
 * backend), with an in-memory ledger and a SQLite store, for the gateway tests.
 */
import type { BudgetLedger } from '../../src/budget/types.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/create-gateway.js';
import type { GatewayKey } from '../../src/gateway/key-ring.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { Backend } from '../../src/core/types.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

export interface TestGateway {
  url: string;
  gateway: Gateway;
  router: LLMRouter;
  ledger: BudgetLedger;
  store: SqliteUsageStore;
  tracker: UsageTracker;
  upstream: FakeServer<OpenAIScenario> | undefined;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  maxTokensPerThread?: number;
  keys?: GatewayKey[];
  backends?: Backend[];
  ledger?: BudgetLedger;
  /** The usage store (default: a fresh in-memory SQLite store). */
  store?: SqliteUsageStore;
  /** Per-attempt timeout of the upstream backend, ms. */
  timeoutMs?: number;
  gateway?: Partial<Omit<GatewayOptions, 'router' | 'store' | 'keys'>>;
  maxAttempts?: number;
}

/** A gateway in front of a fresh fake OpenAI server (unless `backends` is given). */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const upstream = options.backends ? undefined : await startFakeOpenAIServer();
  const backends =
    options.backends ??
    [new OpenAICompatibleBackend({ name: 'fake', baseUrl: upstream!.url, models: '*', ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) })];
  const ledger = options.ledger ?? new MemoryBudgetLedger({ maxTokensPerThread: options.maxTokensPerThread ?? 100_000 });
  const tracker = new UsageTracker();
  const router = new LLMRouter({
    backends,
    ledger,
    tracker,
    retries: { maxAttempts: options.maxAttempts ?? 1, baseDelayMs: 1, maxDelayMs: 5 },
  });
  const store = options.store ?? new SqliteUsageStore({ path: ':memory:' });
  const gateway = createGateway({
    router,
    store,
    ...(options.keys ? { keys: options.keys } : {}),
    logError: () => undefined,
    ...options.gateway,
  });
  const address = await gateway.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    gateway,
    router,
    ledger,
    store,
    tracker,
    upstream,
    async close() {
      await gateway.close();
      await upstream?.close();
    },
  };
}

/** `fetch` returning status, headers and parsed JSON body. */
export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: init.method ?? (init.body !== undefined || init.rawBody !== undefined ? 'POST' : 'GET'),
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.rawBody !== undefined ? { body: init.rawBody } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

/** The `error` object of an OpenAI-shaped error body. */
export function errorOf(body: Record<string, unknown>): { message: string; type: string; code: string; param: string | null } {
  return body.error as { message: string; type: string; code: string; param: string | null };
}

export const HELLO = [{ role: 'user', content: 'Hello there' }];
