// Usage: node bench/charge-path.js [repo dir with dist/, default .] [scenario...]   (needs REDIS_URL for "settle")
// Measures issue 11 findings 4, 8 and 10 against a built tokenwarden (before / after).
import { createServer, request as httpRequest } from 'node:http';
import { connect, createServer as netServer } from 'node:net';
import { pathToFileURL } from 'node:url';
const dir = process.argv[2] ?? '.';
const only = process.argv.slice(3);
const lib = await import(pathToFileURL(`${dir}/dist/index.js`).href);
const gw = await import(pathToFileURL(`${dir}/dist/gateway/index.js`).href);
const redisMod = await import(pathToFileURL(`${dir}/dist/stores/ledgers/redis/index.js`).href);
const sqliteMod = await import(pathToFileURL(`${dir}/dist/stores/usage/sqlite/index.js`).href);
const { LLMRouter, MemoryBudgetLedger, UsageTracker, OpenAICompatibleBackend } = lib;

// ---- a fake upstream: behaviour set per test -----------------------------------------------------------
let behave = async (_body, res) => res.end('{}');
let upstreamCalls = 0;
const up = createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => { upstreamCalls++; behave(JSON.parse(raw), res, req).catch(() => res.destroy()); });
});
await new Promise((r) => up.listen(0, '127.0.0.1', r));
const upUrl = `http://127.0.0.1:${up.address().port}/v1`;
const chunk = (model, delta, finish = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const answer = (model, usage, content = 'Hello') => JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function gateway({ ledger = new MemoryBudgetLedger({ maxTokensPerThread: 5_000 }), timeoutMs } = {}) {
  const tracker = new UsageTracker();
  const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: upUrl, models: '*', ...(timeoutMs ? { timeoutMs } : {}) });
  const router = new LLMRouter({ backends: [backend], ledger, tracker, retries: { maxAttempts: 1 } });
  const store = new sqliteMod.SqliteUsageStore({ path: ':memory:' });
  const g = gw.createGateway({ router, store, logError: () => undefined });
  const a = await g.listen(0, '127.0.0.1');
  return { url: `http://127.0.0.1:${a.port}`, g, ledger, store, tracker, router };
}
const post = (url, thread, body) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': thread }, body: JSON.stringify(body) });
const HELLO = [{ role: 'user', content: 'Hello there' }];

const scenarios = {
  async endless() {
    behave = async (body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let gone = false; res.on('close', () => (gone = true));
      while (!gone) {
        if (res.write(chunk(body.model, { content: 'spam ' }))) continue;
        await new Promise((r) => {
          const done = () => { res.off('drain', done); res.off('close', done); r(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    };
    const t = await gateway();
    const ac = new AbortController();
    const started = Date.now();
    const res = await post(t.url, 'endless', { model: 'gpt-4o', messages: HELLO, max_tokens: 20, stream: true }).catch((e) => e);
    let bytes = 0, ended = 'read limit (10 s)';
    const timer = setTimeout(() => ac.abort(), 10_000);
    try {
      const reader = res.body.getReader();
      ac.signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
      for (;;) { const { done, value } = await reader.read(); if (done) { ended = 'stream ended by the gateway'; break; } bytes += value.length; }
    } catch { /* cancelled */ }
    clearTimeout(timer);
    await sleep(300);
    const u = await t.ledger.usage('endless');
    console.log(`endless stream, max_tokens 20, budget 5000: charged ${u.totalTokens} / 5000 after ${((Date.now() - started) / 1000).toFixed(1)} s (${ended}, ${bytes} bytes to the client)`);
    await t.g.close();
  },
  async usage1e15() {
    behave = async (body, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer(body.model, { prompt_tokens: 12, completion_tokens: 1e15 })); };
    const t = await gateway();
    const r = await post(t.url, 'huge', { model: 'gpt-4o', messages: HELLO, max_tokens: 20 });
    await sleep(100);
    const u = await t.ledger.usage('huge');
    const ev = (await t.store.query({})).events[0];
    console.log(`usage 1e15 (gpt-4o): HTTP ${r.status}, ledger charged ${u.totalTokens} (reservation ${u.totalTokens <= 5000 ? 'kept' : 'exceeded'}), stored event tokens ${ev?.totalTokens}, costNanos safe: ${ev ? Number.isSafeInteger(ev.costNanos) : 'no event'}`);
    await t.g.close();
  },
  async overspend() {
    behave = async (body, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer(body.model, { prompt_tokens: 3000, completion_tokens: 20 })); };
    const t = await gateway();
    const r = await post(t.url, 'over', { model: 'gpt-4o', messages: HELLO, max_tokens: 20 });
    const m = await (await fetch(`${t.url}/metrics`)).text();
    const line = m.split('\n').find((l) => l.startsWith('tokenwarden_overspend_tokens_total ')) ?? '(no metric)';
    const ev = t.tracker.getTotals();
    console.log(`plausible overspend (prompt 3000 reported vs ~8 estimated): HTTP ${r.status}, charged ${ev.totalTokens}, metric: ${line}`);
    await t.g.close();
  },
  async settle() {
    const target = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const socks = new Set(); let cut = false;
    const proxy = netServer((c) => { socks.add(c); c.on('error', () => {}); if (cut) return c.destroy(); const u = connect(Number(target.port || 6379), target.hostname); socks.add(u); u.on('error', () => {}); c.pipe(u); u.pipe(c); c.on('close', () => u.destroy()); u.on('close', () => c.destroy()); });
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    const ledger = new redisMod.RedisBudgetLedger({ url: `redis://127.0.0.1:${proxy.address().port}`, keyPrefix: `tw-measure-${process.pid}-${Date.now()}:`, commandTimeoutMs: 200, onError: () => {} });
    behave = async (body, res) => { await sleep(200); res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer(body.model, { prompt_tokens: 12, completion_tokens: 8 })); };
    upstreamCalls = 0;
    const tracker = new UsageTracker(); let events = 0; tracker.subscribe(() => events++);
    const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: upUrl, models: '*' });
    const router = new LLMRouter({ backends: [backend], ledger, tracker, retries: { maxAttempts: 1 } });
    const calls = Array.from({ length: 200 }, (_, i) => router.complete({ model: 'gpt-4o', messages: HELLO, threadId: `t${i % 10}`, maxTokens: 50 }).then(() => 'ok', (e) => e.name));
    while (upstreamCalls < 150) await sleep(2);
    cut = true; for (const s of socks) s.destroy();
    const out = await Promise.all(calls);
    console.log(`Redis cut mid-flight, 200 calls: ${upstreamCalls} upstream calls, ${events} usage events, ${out.filter((o) => o === 'ok').length} answered`);
    cut = false;
    if (router.drainSettles) await router.drainSettles();
    let total = 0; for (let i = 0; i < 10; i++) total += (await ledger.usage(`t${i}`).catch(() => undefined))?.totalTokens ?? 0;
    console.log(`  ledger after Redis is back: ${total} tokens charged (${upstreamCalls * 20} answered)`);
    await ledger.close(); proxy.close();
  },
  async disconnect() {
    behave = async (body, res) => { await sleep(300); res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer(body.model, { prompt_tokens: 12, completion_tokens: 8 })); };
    const t = await gateway();
    upstreamCalls = 0;
    const reqs = Array.from({ length: 50 }, (_, i) => { const r = httpRequest(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': `d${i}` } }); r.on('error', () => {}); r.end(JSON.stringify({ model: 'gpt-4o', messages: HELLO, max_tokens: 20 })); return r; });
    while (upstreamCalls < 50) await sleep(2);
    for (const r of reqs) r.socket?.destroy();
    await sleep(800);
    let total = 0; for (let i = 0; i < 50; i++) total += (await t.ledger.usage(`d${i}`))?.totalTokens ?? 0;
    console.log(`50 non-streaming clients gone mid-call: ${upstreamCalls} upstream calls, ${total} tokens charged, ${await t.store.count()} events stored`);
    await t.g.close();
  },
  async retryAfter() {
    let first = true;
    behave = async (body, res) => {
      if (first) { first = false; res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '99999' }); return res.end('{"error":{"message":"slow down"}}'); }
      res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer(body.model, { prompt_tokens: 12, completion_tokens: 8 }));
    };
    const t = await gateway({ timeoutMs: 5_000 });
    const a = await post(t.url, 'ra', { model: 'gpt-4o', messages: HELLO, max_tokens: 20 });
    const started = Date.now();
    const b = await post(t.url, 'ra', { model: 'gpt-4o', messages: HELLO, max_tokens: 20 });
    console.log(`Retry-After 99999, backend timeout 5 s: first HTTP ${a.status}; next call HTTP ${b.status} after ${((Date.now() - started) / 1000).toFixed(2)} s (retry-after: ${b.headers.get('retry-after')})`);
    await t.g.close();
  },
};
for (const [name, run] of Object.entries(scenarios)) if (only.length === 0 || only.includes(name)) await run();
up.close();
process.exit(0);
