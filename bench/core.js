// Core budgets and metering: ops/s beside a bare Map get-check-add loop measured in the same run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { opsPerSecond, row, heading, fmt } from './lib.js';
import { ThreadBudgetRegistry, UsageTracker } from '../dist/index.js';

const THREADS = 1024;
const keys = Array.from({ length: THREADS }, (_, i) => `thread-${i}`);
const BIG = Number.MAX_SAFE_INTEGER;

export async function run() {
  heading('core: budgets and usage events (baseline: bare Map get-check-add loop)');
  const map = new Map();
  const bare = await opsPerSecond((i) => {
    const k = keys[i & (THREADS - 1)];
    const v = map.get(k) ?? 0;
    if (v + 10 <= BIG) map.set(k, v + 10);
  });
  row('bare Map get-check-add', bare);

  const reg = new ThreadBudgetRegistry({ maxTokensPerThread: BIG });
  const charge = { promptTokens: 6, completionTokens: 4 };
  const reserveSettle = await opsPerSecond((i) => {
    const hold = reg.reserve(keys[i & (THREADS - 1)], 10);
    reg.settle(hold, charge);
  });
  row('registry.reserve + settle', reserveSettle, bare);

  const reg2 = new ThreadBudgetRegistry({ maxTokensPerThread: BIG });
  const checkConsume = await opsPerSecond((i) => {
    const k = keys[i & (THREADS - 1)];
    reg2.checkBudget(k, 10);
    reg2.consume(k, charge);
  });
  row('registry.checkBudget + consume', checkConsume, bare);

  const tracker = new UsageTracker();
  let seen = 0;
  tracker.subscribe(() => seen++);
  const input = { threadId: 't', agentId: 'writer', model: 'gpt-4o-mini', provider: 'openai', promptTokens: 500, completionTokens: 120, latencyMs: 12, metadata: { org_id: 'acme' } };
  const record = await opsPerSecond(() => {
    tracker.record(input);
  });
  row('tracker.record (1 subscriber, priced)', record, bare);
  if (seen === 0) throw new Error('subscriber never called');
  const target = bare / reserveSettle <= 3 ? 'met' : 'NOT met';
  console.log(`  target reserve+settle within 3x of the bare loop: ${target} (${fmt(bare / reserveSettle, 2)}x)`);

  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./core-memory.js', import.meta.url))], {
    encoding: 'utf8',
  });
  process.stdout.write(child.stdout);
  if (child.status !== 0) process.stderr.write(child.stderr);
}
