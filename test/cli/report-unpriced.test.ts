import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReportCommand } from '../../src/cli/report.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { makeEvent } from '../stores/usage/usage-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-report-unpriced-'));
const dbPath = join(dir, 'usage.db');
const D1 = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;

async function report(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runReportCommand(['--db', dbPath, ...argv], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) }, { env: {} });
  return { code, stdout, stderr };
}

function parseCsv(text: string): Array<Record<string, string>> {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

beforeAll(async () => {
  // `gpt-4o` priced (1.5 USD), `my-local-model` without a known price; day 2 has unpriced usage only.
  const store = new SqliteUsageStore({ path: dbPath });
  store.appendSync([
    makeEvent({ model: 'gpt-4o', threadId: 'mixed', timestamp: D1 + 1000, costNanos: 1_500_000_000 }),
    makeEvent({ model: 'my-local-model', threadId: 'mixed', timestamp: D1 + 2000, costNanos: undefined }),
    makeEvent({ model: 'my-local-model', threadId: 'local', timestamp: D1 + DAY + 3000, costNanos: undefined }),
  ]);
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tokenwarden report: unpriced usage', () => {
  it('table: an unpriced model shows "unpriced", not $0, and a note counts the unpriced requests', async () => {
    const r = await report([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^my-local-model\s+2\s.*\sunpriced$/m);
    expect(r.stdout).toMatch(/^gpt-4o\s+1\s.*\s\$1\.500000$/m);
    expect(r.stdout).toMatch(/^TOTAL\s+3\s.*\s\$1\.500000$/m);
    expect(r.stdout).not.toContain('$0.00');
    expect(r.stdout).toContain('Unpriced: 2 of 3 requests used a model without a known price; their cost is not included above.');
  });

  it('json: cost null for an all-unpriced group, the priced sum otherwise, with unpricedCount', async () => {
    const r = await report(['--format', 'json', '--by', 'day']);
    const out = JSON.parse(r.stdout) as { rows: Array<Record<string, unknown>>; totals: Record<string, unknown> };
    expect(out.rows).toEqual([
      expect.objectContaining({ date: '2025-06-01', requestCount: 2, costNanos: 1_500_000_000, cost: 1.5, unpricedCount: 1 }),
      expect.objectContaining({ date: '2025-06-02', requestCount: 1, costNanos: null, cost: null, unpricedCount: 1 }),
    ]);
    expect(out.totals).toMatchObject({ requestCount: 3, costNanos: 1_500_000_000, unpricedCount: 2 });
  });

  it('csv: empty cost cells for an unpriced group and an unpriced_requests column', async () => {
    const rows = parseCsv((await report(['--format', 'csv', '--by', 'thread'])).stdout);
    expect(rows).toEqual([
      { thread_id: 'mixed', requests: '2', prompt_tokens: '200', completion_tokens: '100', total_tokens: '300', cost_nanos: '1500000000', cost_usd: '1.500000000', unpriced_requests: '1' },
      { thread_id: 'local', requests: '1', prompt_tokens: '100', completion_tokens: '50', total_tokens: '150', cost_nanos: '', cost_usd: '', unpriced_requests: '1' },
    ]);
  });

  it('--by thread totals: all unpriced is null, not 0', async () => {
    const r = await report(['--format', 'json', '--by', 'thread', '--thread', 'local']);
    expect((JSON.parse(r.stdout) as { totals: unknown }).totals).toMatchObject({ requestCount: 1, costNanos: null, cost: null, unpricedCount: 1 });
  });
});
