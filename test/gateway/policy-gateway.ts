/**
 * A real gateway with budget policies (BudgetPolicies over a MemoryPolicyLedger, the catalog's prices) in
 * front of a fake OpenAI upstream on 127.0.0.1, for the policy tests of the gateway.
 */
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import type { BudgetPolicy } from '../../src/budget/policy-types.js';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { hashGatewayKey, type GatewayKey } from '../../src/gateway/key-ring.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

export interface PolicyGateway {
  url: string;
  gateway: Gateway;
  policies: BudgetPolicies;
  ledger: MemoryPolicyLedger;
  store: SqliteUsageStore;
  upstream: FakeServer<OpenAIScenario>;
  close(): Promise<void>;
}

/** Keys `admin` (no org), `acme-app` and `acme-ci` (org acme), `beta-app` (org beta); the bearer token is the name. */
export const KEYS: GatewayKey[] = [
  { name: 'admin', sha256: hashGatewayKey('admin'), org: null, admin: true },
  { name: 'acme-app', sha256: hashGatewayKey('acme-app'), org: 'acme' },
  { name: 'acme-ci', sha256: hashGatewayKey('acme-ci'), org: 'acme' },
  { name: 'beta-app', sha256: hashGatewayKey('beta-app'), org: 'beta' },
];

export const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Starts the gateway; `keys: false` runs it keyless (every caller an admin without an org). */
export async function startPolicyGateway(options: { policies: BudgetPolicy[]; keys?: boolean; now?: () => number }): Promise<PolicyGateway> {
  const upstream = await startFakeOpenAIServer();
  const clock = options.now ? { now: options.now } : {};
  const ledger = new MemoryPolicyLedger({ ...clock });
  const tracker = new UsageTracker();
  const prices = new PriceTable();
  const policies = new BudgetPolicies({ policies: options.policies, ledger, prices, ...clock });
  const router = new LLMRouter({
    backends: [new OpenAICompatibleBackend({ name: 'fake', baseUrl: upstream.url, models: '*' })],
    ledger: new MemoryBudgetLedger({ maxTokensPerThread: 1_000_000 }),
    tracker,
    policies,
    retries: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 5 },
  });
  const store = new SqliteUsageStore({ path: ':memory:' });
  const gateway = createGateway({
    router,
    store,
    ...(options.keys === false ? {} : { keys: KEYS }),
    policies: { guard: policies, ledger },
    logError: () => undefined,
  });
  const address = await gateway.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${address.port}`,
    gateway,
    policies,
    ledger,
    store,
    upstream,
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}
