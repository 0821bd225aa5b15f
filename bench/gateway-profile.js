// Helper (not part of `npm run bench`): profiles the tokenwarden gateway under the gateway benchmark's
// load. Starts the mock upstream and tokenwarden (with `node --cpu-prof`) as separate processes, drives
// them from this process for a bounded time, then prints the hottest functions of the gateway process.
//   node bench/gateway-profile.js [seconds=5] [connections=32]
//   PROFILE_CALLERS=createAbortSignal node bench/gateway-profile.js   (also: where that function's time comes from)
//   PROFILE_DEPTH=10 (with PROFILE_CALLERS): how many caller frames to show (default 4)
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, spawnReady, stop, waitServing, writeGatewayConfig } from './gateway.js';

const GATEWAY = fileURLToPath(new URL('./gateway.js', import.meta.url));
const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 32);

const dir = await mkdtemp(join(tmpdir(), 'tw-bench-profile-'));
const children = [];
try {
  const upstream = spawnReady([GATEWAY, '--role=upstream']);
  children.push(upstream.child);
  const upstreamUrl = await upstream.ready;
  const configFile = await writeGatewayConfig(dir, 'tokenwarden', upstreamUrl);
  const profDir = join(dir, 'prof');
  const tw = spawnReady(['--cpu-prof', `--cpu-prof-dir=${profDir}`, GATEWAY, '--role=tokenwarden', configFile]);
  children.push(tw.child);
  const url = `${await tw.ready}/v1/chat/completions`;
  await waitServing(url, { 'x-thread-id': 'warm' });
  const r = await load(url, (i) => ({ 'x-thread-id': `bench-${i}`, 'x-agent-id': 'bench' }), { connections, ms: seconds * 1000 });
  console.log(`${connections} connections: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${Math.round(r.rps)} req/s, ${r.errors} errors`);
  await stop(tw.child);
  const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
  const profile = JSON.parse(await readFile(join(profDir, file), 'utf8'));
  summarise(profile, r.count);
} finally {
  for (const c of children.reverse()) await stop(c);
  await rm(dir, { recursive: true, force: true });
}

/** Prints self time per function and total (inclusive) time of the heaviest frames, in µs per request. */
function summarise(profile, requests) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const self = new Map();
  const total = new Map();
  let all = 0;
  let idle = 0;
  for (const [id, t] of dt) {
    const n = byId.get(id);
    all += t;
    if (n.callFrame.functionName === '(idle)') idle += t;
    self.set(label(n), (self.get(label(n)) ?? 0) + t);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur));
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + t);
    }
  }
  const per = (t) => (t / requests).toFixed(1).padStart(7);
  console.log(`gateway CPU (busy) per request: ${((all - idle) / requests).toFixed(1)} µs; idle ${((idle / all) * 100).toFixed(0)}%`);
  console.log('\nself time, µs/request:');
  for (const [l, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 35)) console.log(`${per(t)}  ${l}`);
  console.log('\ninclusive time, µs/request:');
  for (const [l, t] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${per(t)}  ${l}`);
  console.log("\ninclusive time of tokenwarden functions (dist/), µs/request:");
  for (const [l, t] of [...total].filter(([l]) => l.includes(" dist/")).sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${per(t)}  ${l}`);
  // PROFILE_CALLERS=name: where the self time of functions whose label contains `name` comes from.
  const wanted = process.env.PROFILE_CALLERS;
  if (wanted) {
    const callers = new Map();
    for (const [id, t] of dt) {
      const n = byId.get(id);
      if (!label(n).includes(wanted)) continue;
      const chain = [];
      for (let cur = parent.get(id); cur !== undefined && chain.length < Number(process.env.PROFILE_DEPTH ?? 4); cur = parent.get(cur)) chain.push(label(byId.get(cur)));
      const key = chain.join(' < ');
      callers.set(key, (callers.get(key) ?? 0) + t);
    }
    console.log(`\ncallers of ${wanted} (self time), µs/request:`);
    for (const [l, t] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${per(t)}  ${l}`);
  }
}
