/**
 * Fuzz test of the chat-completions body and headers: thousands of random and mutated requests from one
 * org while another org sends normal calls. Every answer must be a 4xx or a correct 200 (never a 5xx),
 * the other org's calls must all succeed, and every answered call must be stored exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { PostgresUsageStore } from '../../src/stores/usage/postgres/postgres-usage-store.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { UsageStore } from '../../src/usage/usage-store.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { DATABASE_URL } from '../support/services.js';
import { prng } from '../tokens/fixtures/adversarial.js';

const BODIES = 2_500;
const HOSTILE = 'tw-fuzz-hostile-key';
const VICTIM = 'tw-fuzz-victim-key';


const NASTY_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '\u0007', '\u001b[31mred', '\u007f', '\u0085', '\u009b', '\ud800', 'x\udfff', '\u2028',
  '\ufeff', '\uffff', '🙂', 'e\u0301\u0301\u0301', '__proto__', 'constructor', 'prototype', '../../etc/passwd', '%00',
  'null', 'gpt-4o-mini', 'mock', 'x'.repeat(257), 'y'.repeat(5000), '\t\n\r', 'org/other', '*', 'system', 'user',
];
const NASTY_NUMBERS = [0, -0, -1, 1, 2, 1.5, 0.5, 3, 4097, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 1e-320, 123456789012];
const FIELDS = [
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'n', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice',
  'user', 'stream', 'stream_options', 'seed', 'logprobs', 'response_format', '__proto__', 'constructor',
];
const MESSAGE_FIELDS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id', '__proto__'];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 7));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, NASTY_NUMBERS);
    case 3:
      return pick(r, NASTY_STRINGS);
    case 4:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    case 5: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[pick(r, [...FIELDS, ...MESSAGE_FIELDS, 'type', 'text'])] = randomValue(r, depth + 1);
      return o;
    }
    default:
      return { role: pick(r, ['user', 'system', 'assistant', 'tool', 'bot', '']), content: randomValue(r, depth + 1) };
  }
}

function validBody(r: () => number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: `hello ${Math.floor(r() * 1000)}` }],
    max_tokens: 16,
  };
  if (r() < 0.3) body.stream = true;
  if (r() < 0.2) body.stream_options = { include_usage: true };
  return body;
}

/** A request body: a mutated valid body most of the time, sometimes random JSON or broken text. */
function fuzzBody(r: () => number): string {
  const roll = r();
  if (roll < 0.05) return JSON.stringify(randomValue(r));
  const body = validBody(r);
  const mutations = 1 + Math.floor(r() * 3);
  for (let i = 0; i < mutations; i++) {
    const m = r();
    if (m < 0.15) body[pick(r, ['model', 'user'])] = pick(r, NASTY_STRINGS);
    else if (m < 0.45) body[pick(r, FIELDS)] = randomValue(r);
    else if (m < 0.6) delete body[pick(r, FIELDS)];
    else if (m < 0.85) {
      const messages = Array.isArray(body.messages) ? body.messages : [];
      const first: unknown = messages[0];
      const msg = (typeof first === 'object' && first !== null && !Array.isArray(first) ? first : {}) as Record<string, unknown>;
      msg[pick(r, MESSAGE_FIELDS)] = randomValue(r);
      body.messages = r() < 0.2 ? [...messages, randomValue(r)] : [msg, ...messages.slice(1)];
    } else body[pick(r, NASTY_STRINGS).slice(0, 20) || 'k'] = randomValue(r);
  }
  let text = JSON.stringify(body);
  if (roll > 0.95) {
    // Broken JSON: cut it, or splice a raw control character or a stray byte into it.
    const at = Math.floor(r() * text.length);
    text = r() < 0.5 ? text.slice(0, at) : text.slice(0, at) + pick(r, ['\u0000', '"', '}', '\\', '\ud800', ',']) + text.slice(at);
  }
  return text;
}

/** A header value that fetch can send: printable ASCII, Latin-1, or nasty-but-legal strings. */
function fuzzHeader(r: () => number): string {
  const choices = ['t-1', 'a'.repeat(300), 'x y', '../t', 'org/t', 'é', '\u00ff\u00fe', '%00', ' lead', '*', '-', 'ok_id'];
  return pick(r, choices);
}

interface Answer {
  status: number;
  text: string;
  contentType: string;
}

async function send(url: string, key: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body,
  });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** A 200 must be a whole answer: a chat.completion object, or an SSE stream ending in [DONE] with no error. */
function checkOk(a: Answer): void {
  if (a.contentType.startsWith('text/event-stream')) {
    expect(a.text.trimEnd().endsWith('data: [DONE]'), a.text.slice(-300)).toBe(true);
    expect(a.text).not.toContain('"error"');
  } else {
    const body = JSON.parse(a.text) as { object?: string; choices?: unknown[] };
    expect(body.object).toBe('chat.completion');
    expect(body.choices?.length).toBeGreaterThan(0);
  }
}

interface StoreKind {
  name: string;
  /** Skip reason when the store's server is not configured. */
  missing: string | undefined;
  open(dir: string): Promise<{ store: UsageStore; cleanup(): Promise<void> }>;
}

const STORES: StoreKind[] = [
  {
    name: 'SQLite (writer thread)',
    missing: undefined,
    async open(dir) {
      return { store: new SqliteUsageStore({ path: join(dir, 'usage.db'), writer: 'thread' }), cleanup: async () => undefined };
    },
  },
  {
    name: 'PostgreSQL',
    missing: DATABASE_URL ? undefined : 'DATABASE_URL',
    async open(dir) {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
      const schema = `tw_fuzz_${process.pid}_${Date.now().toString(36)}`;
      const store = new PostgresUsageStore({ pool, schema, table: 'usage_events', spoolPath: join(dir, 'spool.jsonl'), flushIntervalMs: 5 });
      return {
        store,
        async cleanup() {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await pool.end();
        },
      };
    },
  },
];

describe.each(STORES)('chat body fuzzing with $name: only 4xx or a correct 200, and no poisoned neighbour', (kind) => {
  let dir: string;
  let upstream: FakeServer<OpenAIScenario>;
  let store: UsageStore;
  let cleanup: () => Promise<void> = async () => undefined;
  let ledger: MemoryBudgetLedger;
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenwarden-fuzz-'));
    upstream = await startFakeOpenAIServer();
    // An honest upstream: its usage fits any max_tokens >= 1 (a bigger report is refused as implausible).
    upstream.setDefault({ kind: 'ok', content: 'Hi.', usage: { prompt_tokens: 12, completion_tokens: 1 } });
    ({ store, cleanup } = await kind.open(dir));
    ledger = new MemoryBudgetLedger({ maxTokensPerThread: 10_000_000 });
    const router = new LLMRouter({
      backends: [new OpenAICompatibleBackend({ name: 'fake', baseUrl: upstream.url, models: '*' })],
      ledger,
      tracker: new UsageTracker(),
      retries: { maxAttempts: 1 },
    });
    gateway = createGateway({
      router,
      store,
      keys: [
        { name: 'hostile', sha256: hashGatewayKey(HOSTILE), org: 'orga' },
        { name: 'victim', sha256: hashGatewayKey(VICTIM), org: 'orgb' },
      ],
      logError: () => undefined,
    });
    url = `http://127.0.0.1:${(await gateway.listen(0, '127.0.0.1')).port}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(kind.missing !== undefined)(`answers ${BODIES} random and mutated bodies with 4xx or a correct 200, while another org is unaffected`, async () => {
    const r = prng(0x5eed);
    const hostile: Array<{ body: string; answer: Answer }> = [];
    const victim: Answer[] = [];
    let next = 0;
    let done = false;

    const hostileLoop = async (): Promise<void> => {
      while (next < BODIES) {
        next++;
        const body = fuzzBody(r);
        const headers: Record<string, string> = {};
        if (r() < 0.7) headers['x-thread-id'] = r() < 0.5 ? `a-${Math.floor(r() * 50)}` : fuzzHeader(r);
        if (r() < 0.3) headers['x-user-id'] = fuzzHeader(r);
        if (r() < 0.3) headers['x-agent-id'] = fuzzHeader(r);
        hostile.push({ body, answer: await send(url, HOSTILE, body, headers) });
      }
    };
    const victimLoop = async (): Promise<void> => {
      let i = 0;
      while (!done) {
        const stream = i++ % 3 === 0;
        const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'steady' }], max_tokens: 16, stream });
        victim.push(await send(url, VICTIM, body, { 'x-thread-id': 'b-steady', 'x-user-id': 'b-user' }));
      }
    };

    const victims = [victimLoop(), victimLoop()];
    try {
      await Promise.all(Array.from({ length: 8 }, hostileLoop));
    } finally {
      done = true;
      await Promise.allSettled(victims);
    }
    await Promise.all(victims);

    const serverErrors = hostile.filter((h) => h.answer.status >= 500);
    expect(serverErrors.map((h) => `${h.answer.status} ${h.answer.text.slice(0, 200)} <- ${h.body.slice(0, 200)}`)).toEqual([]);
    for (const h of hostile) {
      expect(h.answer.status === 200 || (h.answer.status >= 400 && h.answer.status < 500), h.body.slice(0, 200)).toBe(true);
      if (h.answer.status === 200) checkOk(h.answer);
    }
    expect(victim.length).toBeGreaterThan(0);
    expect(victim.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.text.slice(0, 200)}`)).toEqual([]);
    for (const a of victim) checkOk(a);

    // Every answered call is stored exactly once, and the victim's ledger matches its stored events.
    await store.flush();
    const answered = hostile.filter((h) => h.answer.status === 200).length + victim.length;
    expect(await store.count({})).toBe(answered);
    expect(await store.count({ orgId: 'orgb' })).toBe(victim.length);
    const victimSummary = await store.summary({ orgId: 'orgb' });
    const victimThread = await ledger.usage('orgb/b-steady');
    expect(victimThread?.totalTokens).toBe(victimSummary.totals.totalTokens);
    expect(victimThread?.reservedTokens).toBe(0);
  });
});
