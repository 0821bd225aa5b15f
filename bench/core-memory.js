// Memory held per thread budget at 1 million threads (run by bench/core.js with --expose-gc).
import { ThreadBudgetRegistry } from '../dist/index.js';
import { fmt } from './lib.js';

const N = 1_000_000;
const heap = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};

const ids = Array.from({ length: N }, (_, i) => `thread-${i}`); // ids exist in both measurements
const before = heap();
const reg = new ThreadBudgetRegistry({ maxThreads: N });
for (let i = 0; i < N; i++) {
  const hold = reg.reserve(ids[i], 100);
  reg.settle(hold, { promptTokens: 60, completionTokens: 30 });
}
const after = heap();
const bareBefore = heap();
const bare = new Map();
for (let i = 0; i < N; i++) bare.set(ids[i], 90);
const bareAfter = heap();
console.log(`  memory per thread budget at ${fmt(N)} threads: ${fmt((after - before) / N)} bytes ` +
  `(bare Map<string, number>: ${fmt((bareAfter - bareBefore) / N)} bytes per entry; ids not counted)`);
if (reg.size !== N || bare.size !== N) throw new Error('unexpected size');
