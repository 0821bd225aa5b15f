// Helper (not part of `npm run bench`): compares the gateway's CPU per request between two builds on
// the same machine at the same time, interleaving short rounds so background load hits both alike.
//   node bench/gateway-ab.js <other-checkout> [rounds=4] [seconds=3] [connections=32] [chat|responses|embeddings]
// The API (default chat) may be given anywhere after the checkout, also as --api=<name>.
// <other-checkout> is a built copy of the repository (e.g. `git archive HEAD | tar -x -C /tmp/base`,
// linked node_modules, `npx tsc -p tsconfig.build.json`). Each build runs its own bench/gateway.js; the
// mock upstream (which answers every API by path) is this build's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APIS, API_NAMES } from './gateway-apis.js';
import { load, spawnReady, stop, waitServing, writeGatewayConfig } from './gateway.js';

const USAGE = `usage: node bench/gateway-ab.js <other-checkout> [rounds] [seconds] [connections] [${API_NAMES.join('|')}]`;
const other = process.argv[2];
if (!other) throw new Error(USAGE);
const rest = process.argv.slice(3).map((a) => a.replace(/^--api=/, ''));
const apiNames = rest.filter((a) => Object.hasOwn(APIS, a));
const numbers = rest.filter((a) => !Object.hasOwn(APIS, a));
if (apiNames.length > 1 || numbers.some((a) => !Number.isFinite(Number(a)))) throw new Error(USAGE);
const apiName = apiNames[0] ?? 'chat';
const api = APIS[apiName];
const rounds = Number(numbers[0] ?? 4);
const seconds = Number(numbers[1] ?? 3);
const connections = Number(numbers[2] ?? 32);
const builds = [
  { name: 'other', script: join(resolve(other), 'bench', 'gateway.js') },
  { name: 'this', script: fileURLToPath(new URL('./gateway.js', import.meta.url)) },
];

const dir = await mkdtemp(join(tmpdir(), 'tw-bench-ab-'));
const children = [];
console.log(`gateway A/B: ${apiName} (POST ${api.path}), ${rounds} rounds of ${seconds} s per build, ${connections} connections`);
try {
  const upstream = spawnReady([builds[1].script, '--role=upstream']);
  children.push(upstream.child);
  const upstreamUrl = await upstream.ready;
  for (const b of builds) {
    const configFile = await writeGatewayConfig(dir, b.name, upstreamUrl);
    const tw = spawnReady([b.script, '--role=tokenwarden', configFile]);
    children.push(tw.child);
    b.pid = tw.child.pid;
    b.url = `${await tw.ready}${api.path}`;
    await waitServing(b.url, { 'x-thread-id': 'warm' }, 20_000, api.body);
    b.results = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 ? [...builds].reverse() : builds) {
      const res = await load(b.url, (i) => ({ 'x-thread-id': `bench-${i}`, 'x-agent-id': 'bench' }), {
        body: api.body,
        connections,
        ms: seconds * 1000,
        warmupMs: 500,
        pids: { tokenwarden: b.pid },
      });
      const cpuUs = (res.cpu.tokenwarden * 1e6) / res.rps;
      b.results.push({ rps: res.rps, p50: res.p50, p99: res.p99, cpuUs, machine: res.cpu['whole machine'] });
      console.log(
        `  round ${r + 1} ${b.name.padEnd(5)} ${Math.round(res.rps).toString().padStart(6)} req/s  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  ` +
          `CPU ${cpuUs.toFixed(0)} µs/request  (machine ${Math.round((res.cpu['whole machine'] ?? 0) * 100)}%)${res.errors ? `  ${res.errors} errors: ${res.firstError}` : ''}`,
      );
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const b of builds) {
    console.log(
      `${b.name.padEnd(5)} median: ${Math.round(median(b.results.map((x) => x.rps)))} req/s, CPU ${median(b.results.map((x) => x.cpuUs)).toFixed(0)} µs/request, ` +
        `p50 ${median(b.results.map((x) => x.p50)).toFixed(2)} ms, p99 ${median(b.results.map((x) => x.p99)).toFixed(2)} ms`,
    );
  }
  // Rounds pair the two builds under the same background load, so the ratio within a round is steadier
  // than either build's own figures.
  const ratios = builds[1].results.map((t, i) => t.rps / builds[0].results[i].rps);
  const cpuRatios = builds[1].results.map((t, i) => t.cpuUs / builds[0].results[i].cpuUs);
  console.log(
    `this / other, median of per-round ratios: req/s ${median(ratios).toFixed(3)}x, CPU per request ${median(cpuRatios).toFixed(3)}x` +
      ` (req/s ratios ${[...ratios].sort((a, b) => a - b).map((x) => x.toFixed(2)).join(' ')})`,
  );
} finally {
  for (const c of children.reverse()) await stop(c);
  await rm(dir, { recursive: true, force: true });
}
