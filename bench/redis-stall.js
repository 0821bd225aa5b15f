// Issue 11, finding 7, measured: tokens still held after a Redis stall. A private redis-server is paused
// with SIGSTOP for 1 s (longer than the ledger's 300 ms command timeout) while 11 reserves are made
// (8 x 300 + 3 x 9 = 2,427 tokens); they all time out on the client. Then SIGCONT, and the thread's
// reserved tokens are read 3 s later. Needs redis-server on the PATH.
//   npm run build && node bench/redis-stall.js             # this tree
//   TW_DIST=/path/to/old/dist node bench/redis-stall.js    # another build, for "before"
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.env.TW_DIST ?? new URL('../dist', import.meta.url).pathname);
const { RedisBudgetLedger } = await import(pathToFileURL(join(dist, 'stores/ledgers/redis/index.js')).href);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await new Promise((res) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
try {
  const ledger = new RedisBudgetLedger({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300, onError: () => undefined });
  for (let i = 0; ; i++) {
    try {
      await ledger.settle(await ledger.reserve('t', 100), { promptTokens: 50 });
      break;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(50);
    }
  }
  redis.kill('SIGSTOP');
  const calls = [...Array.from({ length: 8 }, () => ledger.reserve('t', 300))];
  await sleep(50);
  calls.push(...Array.from({ length: 3 }, () => ledger.reserve('t', 9)));
  const outcomes = await Promise.allSettled(calls);
  const failed = outcomes.filter((o) => o.status === 'rejected').length;
  await sleep(1_000);
  redis.kill('SIGCONT');
  await sleep(3_000);
  const usage = await ledger.usage('t');
  console.log(`dist: ${dist}`);
  console.log(`${failed} of 11 reserves failed during the stall; 3 s after SIGCONT: ${usage.reservedTokens} tokens held, ${usage.remaining} of ${usage.maxTokens} remaining`);
  await ledger.close();
} finally {
  redis.kill('SIGCONT');
  redis.kill('SIGKILL');
}
