// `npm run bench` suite for the gateway: latency (p50/p99) and requests per second at 32 connections for
// (a) a local mock OpenAI upstream called directly, (b) tokenwarden in front of it, (c) Portkey's
// open-source gateway in front of it, (d) a bare node:http + undici pass-through in front of it (the
// floor for any Node.js gateway on this machine) — all in the same run, loopback only, each bounded in time.
//
// Each server runs in its own process (this file re-executed with --role=...), so the load generator,
// the gateway, Portkey and the upstream do not share one event loop; the targets are measured in
// interleaved rounds, and each window reports the CPU share of every process involved.
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
import { Pool, fetch } from 'undici';
import { closedLoop, requestBytes } from './http-load.js';
import { fmt, heading, percentile } from './lib.js';

const HERE = fileURLToPath(import.meta.url);
const CONNECTIONS = 32;
const WARMUP_MS = 1000;
const MEASURE_MS = Number(process.env.TOKENWARDEN_BENCH_GATEWAY_MS ?? 6000);
const SEQUENTIAL_MS = 1500;
const TARGET_ADDED_P50_MS = 1;
const TARGET_RPS_RATIO = 10;

const REQUEST_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
  max_tokens: 32,
});

const UPSTREAM_ANSWER = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! Nice to meet you.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 14, completion_tokens: 7, total_tokens: 21 },
});

// ---------------------------------------------------------------------------------------------
// Child roles

function startUpstream() {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(UPSTREAM_ANSWER) });
      res.end(UPSTREAM_ANSWER);
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

/** Waits until a POST to `url` answers 200 (the server is really serving). */
export async function waitServing(url, headers, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: REQUEST_BODY });
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
 * warm-up), through the lean client in http-load.js. `headersFor(i)` gives connection i's headers.
 * `pids` ({ name: pid }) are the processes whose CPU use over the measured window is reported (as a
 * share of one core), along with this load generator's.
 */
export async function load(url, headersFor, { connections = CONNECTIONS, ms = MEASURE_MS, warmupMs = WARMUP_MS, pids = {} } = {}) {
  const latencies = [];
  let errors = 0;
  let firstError;
  let recording = false;
  let stopAt = performance.now() + warmupMs + ms;
  const done = closedLoop(url, connections, (i) => requestBytes(url, { 'content-type': 'application/json', ...headersFor(i) }, REQUEST_BODY), {
    shouldStop: () => performance.now() >= stopAt,
    onResponse: (latency, status, body) => {
      if (status !== 200) {
        errors++;
        firstError ??= `HTTP ${status}: ${body.toString('utf8', 0, 200)}`;
      } else if (recording) latencies.push(latency);
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
  return result(latencies, elapsed, cpu, errors, firstError);
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

function printRow(name, r) {
  const err = r.errors ? ` | ${r.errors} errors (${r.firstError})` : '';
  console.log(
    `  ${name.padEnd(30)} p50 ${fmt(r.p50, 3).padStart(7)} ms   p99 ${fmt(r.p99, 3).padStart(7)} ms   ${fmt(r.rps).padStart(9)} req/s${err}`,
  );
}

function printCpu(r) {
  const parts = Object.entries(r.cpu).map(([k, v]) => `${k} ${fmt(v * 100)}%`);
  console.log(`  ${''.padEnd(30)} CPU (100% = one core): ${parts.join(', ')}`);
}

const ROUNDS = 4;

/**
 * Writes the benchmark gateway's config (SQLite store in `dir`, in-memory ledger, one OpenAI-compatible
 * backend at `upstreamUrl`, no retries, budgets too large to refuse) and returns its path.
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

export async function run() {
  heading(
    `gateway: ${CONNECTIONS} and 1 connection(s), ${ROUNDS} interleaved rounds of ${MEASURE_MS / ROUNDS / 1000} s per target ` +
      `(after ${WARMUP_MS / 1000} s warm-up each), loopback, same request body for all`,
  );
  console.log(
    '  processes: load generator (this one), mock upstream, tokenwarden, Portkey and the bare pass-through each in its own process,\n' +
      `  scheduled by the OS on ${availableParallelism()} core(s); CPU shares are measured over each window ("whole machine" includes other jobs).`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'tw-bench-gateway-'));
  const children = [];
  try {
    const upstream = spawnReady([HERE, '--role=upstream']);
    children.push(upstream.child);
    const upstreamUrl = await upstream.ready;

    const bare = spawnReady([HERE, '--role=bare-proxy', upstreamUrl]);
    children.push(bare.child);
    const bareUrl = await bare.ready;

    const configFile = await writeGatewayConfig(dir, 'tokenwarden', upstreamUrl);
    const tw = spawnReady([HERE, '--role=tokenwarden', configFile]);
    children.push(tw.child);
    const twUrl = await tw.ready;

    const portkeyPort = await freePort();
    const require = createRequire(import.meta.url);
    const portkeyMain = join(dirname(require.resolve('@portkey-ai/gateway/package.json')), 'build', 'start-server.js');
    const portkey = spawn(process.execPath, [portkeyMain, `--port=${portkeyPort}`, '--headless'], {
      stdio: 'ignore',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    children.push(portkey);
    const portkeyUrl = `http://127.0.0.1:${portkeyPort}/v1/chat/completions`;
    const portkeyHeaders = {
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${upstreamUrl}/v1`,
      authorization: 'Bearer sk-bench-unused',
    };

    const directUrl = `${upstreamUrl}/v1/chat/completions`;
    const gatewayUrl = `${twUrl}/v1/chat/completions`;
    await waitServing(directUrl, {});
    await waitServing(`${bareUrl}/v1/chat/completions`, {});
    await waitServing(gatewayUrl, { 'x-thread-id': 'bench-warm' });
    await waitServing(portkeyUrl, portkeyHeaders);

    const targets = [
      { name: 'direct to the mock upstream', url: directUrl, headersFor: () => ({}), pids: { upstream: upstream.child.pid } },
      {
        name: 'through tokenwarden',
        url: gatewayUrl,
        headersFor: (i) => ({ 'x-thread-id': `bench-${i}`, 'x-agent-id': 'bench' }),
        pids: { tokenwarden: tw.child.pid, upstream: upstream.child.pid },
      },
      { name: 'through Portkey gateway', url: portkeyUrl, headersFor: () => portkeyHeaders, pids: { portkey: portkey.pid, upstream: upstream.child.pid } },
      {
        name: 'bare pass-through (floor)',
        url: `${bareUrl}/v1/chat/completions`,
        headersFor: () => ({}),
        pids: { 'bare proxy': bare.child.pid, upstream: upstream.child.pid },
      },
    ];
    // Interleaved rounds, so a change in the machine's background load hits every target alike.
    const measure = async (connections, ms, warmupMs) => {
      const rounds = targets.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, t] of targets.entries()) rounds[i].push(await load(t.url, t.headersFor, { connections, ms: ms / ROUNDS, warmupMs, pids: t.pids }));
      }
      return rounds.map(merge);
    };

    console.log(`  -- ${CONNECTIONS} connections`);
    const [direct, through, viaPortkey, viaBare] = await measure(CONNECTIONS, MEASURE_MS, WARMUP_MS);
    for (const [i, r] of [direct, through, viaPortkey, viaBare].entries()) {
      printRow(targets[i].name, r);
      printCpu(r);
    }
    console.log('  -- 1 connection (per-request overhead without queueing)');
    const [directSeq, throughSeq, portkeySeq, bareSeq] = await measure(1, SEQUENTIAL_MS, 300);
    for (const [i, r] of [directSeq, throughSeq, portkeySeq, bareSeq].entries()) printRow(targets[i].name, r);

    const addedP50 = through.p50 - direct.p50;
    const addedP99 = through.p99 - direct.p99;
    const addedSeqP50 = throughSeq.p50 - directSeq.p50;
    const ratio = through.rps / viaPortkey.rps;
    const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
    console.log(
      `  added latency vs direct @${CONNECTIONS}:           p50 +${fmt(addedP50, 3)} ms, p99 +${fmt(addedP99, 3)} ms` +
        ` | target p50 <= ${TARGET_ADDED_P50_MS} ms: ${verdict(addedP50 <= TARGET_ADDED_P50_MS)}`,
    );
    console.log(
      `  added latency vs direct @1 connection:  p50 +${fmt(addedSeqP50, 3)} ms, p99 +${fmt(throughSeq.p99 - directSeq.p99, 3)} ms` +
        ` | p50 <= ${TARGET_ADDED_P50_MS} ms: ${verdict(addedSeqP50 <= TARGET_ADDED_P50_MS)}`,
    );
    // Little's law: in a closed loop, latency = connections / throughput, so the p50 target at 32
    // connections needs this throughput through the gateway.
    const neededRps = CONNECTIONS / ((direct.p50 + TARGET_ADDED_P50_MS) / 1000);
    console.log(
      `  (closed loop, Little's law: p50 +${TARGET_ADDED_P50_MS} ms at ${CONNECTIONS} connections needs ~${fmt(neededRps)} req/s through the gateway,` +
        ` i.e. <= ${fmt(1e6 / neededRps)} µs of CPU per request on one core)`,
    );
    console.log(
      `  floor (bare pass-through) added p50 @${CONNECTIONS}: +${fmt(viaBare.p50 - direct.p50, 3)} ms, @1 connection: +${fmt(bareSeq.p50 - directSeq.p50, 3)} ms;` +
        ` tokenwarden reaches ${fmt((through.rps / viaBare.rps) * 100)}% of its requests/s; floor / Portkey ${fmt(viaBare.rps / viaPortkey.rps, 2)}x` +
        (viaBare.cpu['bare proxy'] !== undefined ? ` (floor CPU per request: ${fmt((viaBare.cpu['bare proxy'] * 1e6) / viaBare.rps)} µs)` : ''),
    );
    console.log(
      `  requests/s tokenwarden / Portkey @${CONNECTIONS}:    ${fmt(ratio, 2)}x | target >= ${TARGET_RPS_RATIO}x: ${verdict(ratio >= TARGET_RPS_RATIO)}` +
        `   (@1 connection: ${fmt(throughSeq.rps / portkeySeq.rps, 2)}x)`,
    );
    console.log(`  tokenwarden / direct requests/s:         ${fmt(through.rps / direct.rps, 2)}x`);
    const twCpu = through.cpu.tokenwarden;
    if (twCpu !== undefined) console.log(`  tokenwarden CPU per request @${CONNECTIONS}:       ${fmt((twCpu * 1e6) / through.rps)} µs`);
  } finally {
    for (const c of children.reverse()) await stop(c);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === HERE && !process.argv[2]?.startsWith('--role=')) await run();
