// `npm run bench` suite for the gateway, for each client API it passes through (chat completions, the
// Responses API, embeddings): latency (p50/p99) and requests per second at 32 connections and for one
// sequential caller, for (a) a local mock OpenAI upstream called directly, (b) tokenwarden in front of it,
// (c) a bare node:http + undici pass-through in front of it (the floor for any Node.js gateway on this
// machine), (d) Portkey's open-source gateway in front of it — all in the same run, loopback only, each
// bounded in time. Then checks, through the gateway's SQLite store, that every answer was sent only after
// its usage event was stored.
//
// Each server runs in its own process (this file re-executed with --role=...), so the load generator,
// the gateway, Portkey and the upstream do not share one event loop. The targets are measured in
// interleaved rounds (every API and target once per round, the target order rotating), so a change in
// the machine's background load hits all alike; tokenwarden's req/s is compared with the floor's as the
// median of per-round ratios. Each window reports the CPU share of every process involved.
//   TOKENWARDEN_BENCH_GATEWAY_MS     measured ms per API and target at 32 connections (default 4000; 40% of it for 1 connection)
//   TOKENWARDEN_BENCH_GATEWAY_ROUNDS interleaved rounds (default 5)
//   TOKENWARDEN_BENCH_GATEWAY_APIS   comma-separated subset of chat,responses,embeddings (default all)
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import { URL, fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Pool, fetch } from 'undici';
import { APIS, API_NAMES, apiForPath } from './gateway-apis.js';
import { closedLoop, requestBytes } from './http-load.js';
import { fmt, heading, percentile } from './lib.js';

const HERE = fileURLToPath(import.meta.url);
const CONNECTIONS = 32;
const MEASURE_MS = Number(process.env.TOKENWARDEN_BENCH_GATEWAY_MS ?? 4000);
const SEQUENTIAL_MS = MEASURE_MS * 0.4;
const ROUNDS = Number(process.env.TOKENWARDEN_BENCH_GATEWAY_ROUNDS ?? 5);
const FIRST_WARMUP_MS = 1000;
const WARMUP_MS = 300;
const SEQUENTIAL_WARMUP_MS = 100;
const VERIFY_CALLS = 25;
// Issue 13: through tokenwarden at least 70% of the floor's req/s at 32 connections (chat completions,
// the others measured the same way), and at most 0.3 ms added p50 for one sequential caller.
const TARGET_FLOOR_SHARE = 0.7;
const TARGET_ADDED_SEQ_P50_MS = 0.3;

// ---------------------------------------------------------------------------------------------
// Child roles

/** The mock upstream: answers each API's path with its canned OpenAI answer, anything else with a 404. */
function startUpstream() {
  const notFound = Buffer.from(JSON.stringify({ error: { message: 'no such path on the mock upstream', type: 'invalid_request_error' } }));
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = apiForPath(req.url)?.answer;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'application/json', 'content-length': (answer ?? notFound).length });
      res.end(answer ?? notFound);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${server.address().port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

/**
 * The floor: a pass-through proxy with nothing but node:http in front and an undici pool behind (what
 * tokenwarden uses), forwarding the request body and the answer as bytes: no parsing, budgets, usage or
 * metrics. Any Node.js gateway built on the same two does at least this much work per call.
 */
function startBareProxy(upstreamUrl) {
  const { origin } = new URL(upstreamUrl);
  const pool = new Pool(origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      pool
        .request({ path: req.url, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
        .then(async ({ statusCode, body }) => {
          const answer = Buffer.from(await body.arrayBuffer());
          res.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': answer.length });
          res.end(answer);
        })
        .catch((err) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${server.address().port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => pool.close().then(() => process.exit(0))));
}

async function startTokenwarden(configFile) {
  const { runServeCommand } = await import('../dist/cli/serve.js');
  const quiet = { stdout: () => {}, stderr: (s) => (s.includes('cannot start') || s.includes('invalid') ? process.stderr.write(s) : undefined) };
  const code = await runServeCommand(['--config', configFile], quiet, {
    env: {},
    onListening: ({ url }) => process.stdout.write(`READY ${url}\n`),
  });
  process.exit(code);
}

if (process.argv[2] === '--role=upstream') startUpstream();
else if (process.argv[2] === '--role=bare-proxy') startBareProxy(process.argv[3]);
else if (process.argv[2] === '--role=tokenwarden') await startTokenwarden(process.argv[3]);

// ---------------------------------------------------------------------------------------------
// Orchestration

/** Spawns a process and resolves with its `READY <url>` line. */
export function spawnReady(args, { env = {}, readyPattern = /^READY (\S+)/m, timeoutMs = 20_000 } = {}) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let errText = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start in time: ${errText.slice(-500)}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = readyPattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr.on('data', (d) => (errText += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}: ${errText.slice(-500)}`));
    });
  });
  return { child, ready };
}

export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Waits until a POST of `body` (default: the chat completions request) to `url` answers 200 (the server is really serving). */
export async function waitServing(url, headers, timeoutMs = 20_000, body = APIS.chat.body) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const text = await res.text();
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${text.slice(0, 200)}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} is not serving: ${last}`);
}

/** CPU seconds used so far by process `pid` (Linux /proc; undefined elsewhere). */
async function cpuSeconds(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100/s)
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the whole machine (Linux /proc/stat). */
async function machineSeconds() {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return undefined;
  }
}

/**
 * Closed-loop load: `connections` connections each send one request at a time for `ms` (after a
 * warm-up), through the lean client in http-load.js. `headersFor(i)` gives connection i's headers, `body`
 * the request body (default: the chat completions request). `pids` ({ name: pid }) are the processes whose
 * CPU use over the measured window is reported (as a share of one core), along with this load generator's.
 * The result's `answered` counts every 200, warm-up included.
 */
export async function load(url, headersFor, { connections = CONNECTIONS, ms = MEASURE_MS, warmupMs = WARMUP_MS, pids = {}, body = APIS.chat.body } = {}) {
  const latencies = [];
  let errors = 0;
  let answered = 0;
  let firstError;
  let recording = false;
  let stopAt = performance.now() + warmupMs + ms;
  const done = closedLoop(url, connections, (i) => requestBytes(url, { 'content-type': 'application/json', ...headersFor(i) }, body), {
    shouldStop: () => performance.now() >= stopAt,
    onResponse: (latency, status, answer) => {
      if (status !== 200) {
        errors++;
        firstError ??= `HTTP ${status}: ${answer.toString('utf8', 0, 200)}`;
        return;
      }
      answered++;
      if (recording) latencies.push(latency);
    },
    onError: (err) => {
      errors++;
      firstError ??= err.message;
    },
  });
  await new Promise((r) => setTimeout(r, warmupMs));
  recording = true;
  const cpuBefore = await Promise.all(Object.values(pids).map(cpuSeconds));
  const machineBefore = await machineSeconds();
  const selfBefore = process.cpuUsage();
  const start = performance.now();
  stopAt = start + ms;
  await done;
  const elapsed = (performance.now() - start) / 1000;
  const self = process.cpuUsage(selfBefore);
  const cpuAfter = await Promise.all(Object.values(pids).map(cpuSeconds));
  const machineAfter = await machineSeconds();
  const cpu = { 'load generator': (self.user + self.system) / 1e6 / elapsed };
  Object.keys(pids).forEach((name, i) => {
    if (cpuBefore[i] !== undefined && cpuAfter[i] !== undefined) cpu[name] = (cpuAfter[i] - cpuBefore[i]) / elapsed;
  });
  if (machineBefore && machineAfter) cpu['whole machine'] = (machineAfter.busy - machineBefore.busy) / elapsed;
  return { ...result(latencies, elapsed, cpu, errors, firstError), answered };
}

/** A target's figures from its latencies (ms) over `elapsed` seconds. */
function result(latencies, elapsed, cpu, errors, firstError) {
  return {
    cpu,
    latencies,
    elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    count: latencies.length,
    errors,
    firstError,
  };
}

/** Merges the results of several rounds against one target. */
function merge(results) {
  const latencies = results.flatMap((r) => r.latencies);
  const elapsed = results.reduce((a, r) => a + r.elapsed, 0);
  const cpu = {};
  for (const r of results) for (const [k, v] of Object.entries(r.cpu)) cpu[k] = (cpu[k] ?? 0) + (v * r.elapsed) / elapsed;
  const errors = results.reduce((a, r) => a + r.errors, 0);
  return result(latencies, elapsed, cpu, errors, results.find((r) => r.firstError)?.firstError);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function printRow(name, r) {
  const err = r.errors ? ` | ${r.errors} errors (${r.firstError})` : '';
  console.log(
    `    ${name.padEnd(28)} p50 ${fmt(r.p50, 3).padStart(7)} ms   p99 ${fmt(r.p99, 3).padStart(7)} ms   ${fmt(r.rps).padStart(9)} req/s${err}`,
  );
}

function printCpu(r) {
  const parts = Object.entries(r.cpu).map(([k, v]) => `${k} ${fmt(v * 100)}%`);
  console.log(`    ${''.padEnd(28)} CPU (100% = one core): ${parts.join(', ')}`);
}

/**
 * Writes the benchmark gateway's config (SQLite store `<name>.db` in `dir`, in-memory ledger, one
 * OpenAI-compatible backend at `upstreamUrl`, no retries, budgets too large to refuse) and returns its path.
 */
export async function writeGatewayConfig(dir, name, upstreamUrl) {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    [
      'server: { host: 127.0.0.1, port: 0 }',
      `store: { sqlite: ${JSON.stringify(join(dir, `${name}.db`))} }`,
      'ledger: memory',
      'budgets: { default_max_tokens: 1000000000000 }',
      'providers:',
      '  retries: 0',
      '  backends:',
      `    - { name: upstream, provider: openai-compatible, base_url: "${upstreamUrl}/v1", models: ["*"] }`,
      '',
    ].join('\n'),
  );
  return file;
}

/** The APIs this run measures (TOKENWARDEN_BENCH_GATEWAY_APIS, default all). */
function selectedApis() {
  const asked = process.env.TOKENWARDEN_BENCH_GATEWAY_APIS;
  if (!asked) return API_NAMES;
  const names = asked.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !APIS[n]);
  if (unknown.length) throw new Error(`TOKENWARDEN_BENCH_GATEWAY_APIS: unknown API ${unknown.join(', ')} (known: ${API_NAMES.join(', ')})`);
  return names;
}

/** Starts the mock upstream, the floor, tokenwarden and Portkey, each in its own process; pushes them on `children`. */
async function startServers(dir, children) {
  const upstream = spawnReady([HERE, '--role=upstream']);
  children.push(upstream.child);
  const upstreamUrl = await upstream.ready;

  const bare = spawnReady([HERE, '--role=bare-proxy', upstreamUrl]);
  children.push(bare.child);

  const configFile = await writeGatewayConfig(dir, 'tokenwarden', upstreamUrl);
  const tw = spawnReady([HERE, '--role=tokenwarden', configFile]);
  children.push(tw.child);

  const portkeyPort = await freePort();
  const require = createRequire(import.meta.url);
  const portkeyMain = join(dirname(require.resolve('@portkey-ai/gateway/package.json')), 'build', 'start-server.js');
  const portkey = spawn(process.execPath, [portkeyMain, `--port=${portkeyPort}`, '--headless'], {
    stdio: 'ignore',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  children.push(portkey);
  return {
    upstream: { url: upstreamUrl, pid: upstream.child.pid },
    bare: { url: await bare.ready, pid: bare.child.pid },
    tokenwarden: { url: await tw.ready, pid: tw.child.pid, db: join(dir, 'tokenwarden.db') },
    portkey: {
      url: `http://127.0.0.1:${portkeyPort}`,
      pid: portkey.pid,
      headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstreamUrl}/v1`, authorization: 'Bearer sk-bench-unused' },
    },
  };
}

/** The four targets of one API: direct, through tokenwarden, through the floor, through Portkey. */
function targetsFor(api, servers) {
  const { path, body } = APIS[api];
  const up = servers.upstream.pid;
  return [
    { key: 'direct', name: 'direct to the mock upstream', url: `${servers.upstream.url}${path}`, headersFor: () => ({}), pids: { upstream: up } },
    {
      key: 'tokenwarden',
      name: 'through tokenwarden',
      url: `${servers.tokenwarden.url}${path}`,
      headersFor: (i) => ({ 'x-thread-id': `bench-${api}-${i}`, 'x-agent-id': `bench-${api}` }),
      pids: { tokenwarden: servers.tokenwarden.pid, upstream: up },
    },
    {
      key: 'floor',
      name: 'bare pass-through (floor)',
      url: `${servers.bare.url}${path}`,
      headersFor: () => ({}),
      pids: { 'bare proxy': servers.bare.pid, upstream: up },
    },
    {
      key: 'portkey',
      name: 'through Portkey gateway',
      url: `${servers.portkey.url}${path}`,
      headersFor: () => servers.portkey.headers,
      pids: { portkey: servers.portkey.pid, upstream: up },
    },
  ].map((t) => ({ ...t, api, body, answered: 0 }));
}

/**
 * Interleaved rounds at `connections`: one unrecorded warm-up window per API and target, then `ROUNDS`
 * rounds that each measure every API and target once, the target order rotating from round to round.
 * Returns `{ [api]: { [target key]: result[] } }`, one result per round.
 */
async function measureRounds(targetsByApi, { connections, ms, warmupMs, firstWarmupMs }) {
  const window = async (t, opts) => {
    const r = await load(t.url, t.headersFor, { connections, pids: t.pids, body: t.body, ...opts });
    t.answered += r.answered;
    return r;
  };
  const rounds = {};
  for (const [api, targets] of Object.entries(targetsByApi)) {
    rounds[api] = Object.fromEntries(targets.map((t) => [t.key, []]));
    for (const t of targets) await window(t, { ms: 0, warmupMs: firstWarmupMs });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [api, targets] of Object.entries(targetsByApi)) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      for (const t of order) rounds[api][t.key].push(await window(t, { ms: ms / ROUNDS, warmupMs }));
    }
  }
  return rounds;
}

/**
 * Calls each API through tokenwarden `VERIFY_CALLS` times, one at a time, and right after each answer has
 * been read counts that agent's events in the gateway's SQLite store (a separate reader): an answer sent
 * before its event was committed shows up as a count one short. Also reconciles the load windows' 200s
 * with the events stored for their agents, and compares each answer with the upstream's (as JSON, and
 * byte for byte). Returns `{ [api]: { verified, same, identical, calls, answered, stored } }`.
 */
async function checkStoredBeforeAnswer(servers, targetsByApi) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(servers.tokenwarden.db, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare('SELECT COUNT(*) FROM usage_events WHERE agent_id = ?').pluck();
    const out = {};
    for (const [api, targets] of Object.entries(targetsByApi)) {
      const agent = `verify-${api}`;
      let verified = 0;
      let same = 0;
      let identical = 0;
      const expected = JSON.parse(APIS[api].answer.toString('utf8'));
      for (let i = 0; i < VERIFY_CALLS; i++) {
        const res = await fetch(`${servers.tokenwarden.url}${APIS[api].path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-thread-id': `verify-${api}`, 'x-agent-id': agent },
          body: APIS[api].body,
        });
        const answer = Buffer.from(await res.arrayBuffer());
        if (res.status === 200 && count.get(agent) === i + 1) verified++;
        if (answer.equals(APIS[api].answer)) identical++;
        if (res.status === 200 && isDeepStrictEqual(JSON.parse(answer.toString('utf8')), expected)) same++;
      }
      const tw = targets.find((t) => t.key === 'tokenwarden');
      out[api] = { verified, same, identical, calls: VERIFY_CALLS, answered: tw.answered, stored: count.get(`bench-${api}`) };
    }
    return out;
  } finally {
    db.close();
  }
}

/**
 * Waits until every target serves its API. Portkey is dropped (not measured) for an API it cannot pass
 * through (1.15.2 answers embeddings with a 500 under Node.js: it appends headers to the upstream's
 * immutable fetch Response); returns `{ [api]: why }` for those.
 */
async function checkServing(targetsByApi) {
  const skipped = {};
  let portkeyUp = false;
  for (const [api, targets] of Object.entries(targetsByApi)) {
    for (const t of [...targets]) {
      const headers = { ...t.headersFor(0), 'x-agent-id': 'bench-warm' };
      if (t.key !== 'portkey') {
        await waitServing(t.url, headers, 20_000, APIS[api].body);
        continue;
      }
      try {
        // Portkey takes a few seconds to start; once it has answered one API, a failure is the API's.
        await waitServing(t.url, headers, portkeyUp ? 3000 : 20_000, APIS[api].body);
        portkeyUp = true;
      } catch (err) {
        skipped[api] = err.message;
        targets.splice(targets.indexOf(t), 1);
      }
    }
  }
  return skipped;
}

/** Prints one API's windows at 32 connections (with CPU shares) and at 1 connection. */
function printApi(api, targets, many, seq) {
  console.log(`  -- ${api} (POST ${APIS[api].path}, ${APIS[api].answer.length} B answer), ${CONNECTIONS} connections`);
  for (const t of targets) {
    const r = merge(many[t.key]);
    printRow(t.name, r);
    printCpu(r);
  }
  console.log(`  -- ${api}, 1 connection (per-request overhead without queueing)`);
  for (const t of targets) printRow(t.name, merge(seq[t.key]));
}

/** The CPU share (of one core) that processes other than the measured ones took during a window. */
function otherJobsShare(cpu) {
  if (cpu['whole machine'] === undefined) return NaN;
  const ours = Object.entries(cpu).reduce((a, [k, v]) => (k === 'whole machine' ? a : a + v), 0);
  return Math.max(0, cpu['whole machine'] - ours);
}

/** One API's headline figures: req/s shares of the floor (median of per-round ratios) and added p50s. */
function summarize(many, seq) {
  const ratios = (key) => many[key].map((r, i) => r.rps / many.floor[i].rps);
  const m = Object.fromEntries(Object.entries(many).map(([k, rs]) => [k, merge(rs)]));
  const s = Object.fromEntries(Object.entries(seq).map(([k, rs]) => [k, merge(rs)]));
  const cpuUs = (r, proc) => (r.cpu[proc] !== undefined ? (r.cpu[proc] * 1e6) / r.rps : NaN);
  return {
    twShare: median(ratios('tokenwarden')),
    twShares: ratios('tokenwarden'),
    portkeyShare: many.portkey ? median(ratios('portkey')) : NaN,
    rps: { tokenwarden: m.tokenwarden.rps, floor: m.floor.rps, direct: m.direct.rps },
    cpuUs: { tokenwarden: cpuUs(m.tokenwarden, 'tokenwarden'), floor: cpuUs(m.floor, 'bare proxy') },
    seqP50: s.direct.p50,
    twAdded: s.tokenwarden.p50 - s.direct.p50,
    floorAdded: s.floor.p50 - s.direct.p50,
    otherJobs: median(Object.values(many).flat().map((r) => otherJobsShare(r.cpu))),
    errors: Object.values(m).reduce((a, r) => a + r.errors, 0) + Object.values(s).reduce((a, r) => a + r.errors, 0),
  };
}

function printSummary(summaries, stored) {
  const pct = (x) => (Number.isNaN(x) ? 'n/a' : `${fmt(x * 100)}%`);
  const ms = (x) => `${x >= 0 ? '+' : ''}${fmt(x, 3)}`;
  console.log(
    `  summary — req/s at ${CONNECTIONS} connections (share of the floor: median of ${ROUNDS} per-round ratios, [min-max]);` +
      ' p50 for one sequential caller (added to direct, ms); CPU per request (µs, one core)',
  );
  const cols = ['API', 'tokenwarden', 'floor', 'tw/floor', '[rounds]', 'Portkey/floor', 'direct p50', 'tw added', 'floor added', 'tw µs', 'floor µs'];
  const widths = [11, 12, 9, 9, 12, 14, 11, 9, 12, 7, 9];
  const line = (cells) => `    ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' ')}`;
  console.log(line(cols));
  for (const [api, x] of Object.entries(summaries)) {
    const range = `[${fmt(Math.min(...x.twShares) * 100)}-${fmt(Math.max(...x.twShares) * 100)}]`;
    console.log(
      line([api, fmt(x.rps.tokenwarden), fmt(x.rps.floor), pct(x.twShare), range, pct(x.portkeyShare), fmt(x.seqP50, 3), ms(x.twAdded), ms(x.floorAdded), fmt(x.cpuUs.tokenwarden), fmt(x.cpuUs.floor)]),
    );
  }
  const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
  const apis = Object.keys(summaries);
  const share = apis.map((a) => `${a} ${pct(summaries[a].twShare)} ${verdict(summaries[a].twShare >= TARGET_FLOOR_SHARE)}`);
  const added = apis.map((a) => `${a} ${ms(summaries[a].twAdded)} ms ${verdict(summaries[a].twAdded <= TARGET_ADDED_SEQ_P50_MS)}`);
  console.log(`  target (issue 13) tokenwarden req/s >= ${pct(TARGET_FLOOR_SHARE)} of the floor's @${CONNECTIONS}: ${share.join('; ')}` + (apis.includes('chat') ? ' (the bar is set for chat)' : ''));
  console.log(`  target (issue 13) added p50, one sequential caller, <= ${TARGET_ADDED_SEQ_P50_MS} ms: ${added.join('; ')}`);
  const storedParts = Object.entries(stored).map(
    ([api, s]) => `${api} ${s.verified}/${s.calls} read right after their answer, ${fmt(s.stored)} events for ${fmt(s.answered)} load answers`,
  );
  const allStored = Object.values(stored).every((s) => s.verified === s.calls && s.stored >= s.answered);
  console.log(`  usage event stored before the answer: ${verdict(allStored)} (${storedParts.join('; ')})`);
  const unchanged = Object.entries(stored).map(([api, s]) => `${api} ${s.same}/${s.calls} (byte-identical ${s.identical})`);
  console.log(`  answers through tokenwarden equal to the upstream's (JSON): ${unchanged.join('; ')}`);
  const others = Object.values(summaries).map((x) => x.otherJobs);
  console.log(
    `  other jobs on the machine (whole machine minus the processes above) took ${fmt(Math.min(...others) * 100)}-${fmt(Math.max(...others) * 100)}% ` +
      `of a core on average per API during the ${CONNECTIONS}-connection windows (${availableParallelism()} cores); figures are noisier the higher that is`,
  );
  const errors = apis.filter((a) => summaries[a].errors > 0);
  if (errors.length) console.log(`  WARNING: errors in ${errors.join(', ')} (see the rows above); their figures are not comparable`);
}

export async function run() {
  const apis = selectedApis();
  heading(
    `gateway: ${apis.join(', ')}; ${CONNECTIONS} connections and 1, ${ROUNDS} interleaved rounds of ${fmt(MEASURE_MS / ROUNDS / 1000, 2)} s ` +
      `(1 connection: ${fmt(SEQUENTIAL_MS / ROUNDS / 1000, 2)} s) per API and target, loopback`,
  );
  console.log(
    '  processes: load generator (this one), mock upstream, tokenwarden, Portkey and the bare pass-through each in its own process,\n' +
      `  scheduled by the OS on ${availableParallelism()} core(s); CPU shares are measured over each window ("whole machine" includes other jobs).`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'tw-bench-gateway-'));
  const children = [];
  try {
    const servers = await startServers(dir, children);
    const targetsByApi = Object.fromEntries(apis.map((api) => [api, targetsFor(api, servers)]));
    const skipped = await checkServing(targetsByApi);
    const many = await measureRounds(targetsByApi, { connections: CONNECTIONS, ms: MEASURE_MS, warmupMs: WARMUP_MS, firstWarmupMs: FIRST_WARMUP_MS });
    const seq = await measureRounds(targetsByApi, { connections: 1, ms: SEQUENTIAL_MS, warmupMs: SEQUENTIAL_WARMUP_MS, firstWarmupMs: 300 });
    const stored = await checkStoredBeforeAnswer(servers, targetsByApi);
    const summaries = {};
    for (const [api, targets] of Object.entries(targetsByApi)) {
      printApi(api, targets, many[api], seq[api]);
      summaries[api] = summarize(many[api], seq[api]);
    }
    printSummary(summaries, stored);
    for (const [api, why] of Object.entries(skipped)) console.log(`  Portkey not measured for ${api}: ${why}`);
  } finally {
    for (const c of children.reverse()) await stop(c);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === HERE && !process.argv[2]?.startsWith('--role=')) await run();
