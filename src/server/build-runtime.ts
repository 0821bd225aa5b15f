import type { BudgetLedger } from '../budget/types.js';
import type { GatewayKey } from '../gateway/key-ring.js';
import { modelsOf, type GatewayModel } from '../gateway/model-list.js';
import { splitScopedThreadId } from '../gateway/thread-scope.js';
import { redactUrl } from '../core/redact-url.js';
import { configureRouter, parseRouterConfig, type RouterConfig } from './router-config.js';
import type { LLMRouter } from '../router/router.js';
import { MemoryBudgetLedger, type MemoryBudgetLedgerOptions } from '../budget/memory-ledger.js';
import { MemoryPolicyLedger } from '../budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../budget/policies.js';
import type { PolicyAlert, PolicyLedger } from '../budget/policy-types.js';
import type { RedisBudgetLedgerOptions } from '../stores/ledgers/redis/redis-ledger.js';
import type { UsageStore } from '../usage/usage-store.js';
import { storePolicyRestorer } from './policy-restore.js';
import { WebhookAlerts } from '../alerts/webhook-alerts.js';
import { UsageTracker } from '../usage/tracker.js';
import { PriceTable } from '../pricing/price-table.js';
import type { ConfiguredPrice } from './prices-schema.js';
import { InvalidConfigError, providersProblemOf } from './config-problems.js';
import type { TokenwardenConfig } from './config-schema.js';
import type { ConfigEnv } from './validate-config.js';

/** Everything the gateway runs on, built from a {@link TokenwardenConfig}. */
export interface Runtime {
  router: LLMRouter;
  ledger: BudgetLedger;
  store: UsageStore;
  tracker: UsageTracker;
  /** The prices the tracker charges events at: the config's `prices:` over the catalog and built-in table. */
  prices: PriceTable;
  keys: GatewayKey[];
  /**
   * The `budgets.policies` of the config bound to their ledger and the price table (`undefined` without
   * policies): the router enforces them; give `{ guard: policies, ledger: policyLedger }` to `createGateway`.
   */
  policies: BudgetPolicies | undefined;
  /** The ledger the policies' lines live in (memory, or Redis beside a Redis thread ledger). */
  policyLedger: PolicyLedger | undefined;
  /** The `alerts:` webhooks, started and subscribed to the policy ledger (`undefined` without alerts or policies). */
  alerts: WebhookAlerts | undefined;
  /** What `GET /v1/models` lists: `modelsOf(router.backends)` (exact names, and catalog models behind patterns). */
  models: GatewayModel[];
  /** True when no provider was configured or found in the environment and the mock serves every model. */
  mock: boolean;
  /** One line per component, for the start-up banner. */
  describe: { store: string; ledger: string; providers: string[] };
  /** Warnings to show at start-up (e.g. Redis unreachable). */
  warnings: string[];
  /** Closes the store and ledger (when the gateway never took them over). */
  close(): Promise<void>;
}

/**
 * The memory ledger options that bound a gateway's threads: at most `maxThreadsPerOrg` live threads per
 * org (the keyless caller counts as one org), idle ones leave after `threadIdleTtlMs`, and a thread not in
 * memory (idle, or after a restart) is rebuilt from the store's record of it on its next call. The
 * gateway records events under the ledger's own thread key (`org/thread`), so the store is asked for
 * exactly the thread the ledger holds.
 *
 * @example
 * ```ts
 * const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 50_000, ...gatewayThreadLimits(config.budgets, store) });
 * ```
 */
export function gatewayThreadLimits(
  budgets: Pick<TokenwardenConfig['budgets'], 'maxThreadsPerOrg' | 'maxThreads' | 'threadIdleTtlMs'>,
  store: UsageStore | undefined,
): Pick<MemoryBudgetLedgerOptions, 'groupOf' | 'maxThreadsPerGroup' | 'maxThreads' | 'idleTtlMs' | 'restore'> {
  return {
    groupOf: (threadId) => splitScopedThreadId(threadId).org ?? '',
    maxThreadsPerGroup: budgets.maxThreadsPerOrg,
    maxThreads: budgets.maxThreads,
    idleTtlMs: budgets.threadIdleTtlMs,
    ...(store ? { restore: async (threadId: string) => (await store.summary({ threadId })).totals } : {}),
  };
}

/**
 * The Redis ledger options that bound a gateway's threads, as {@link gatewayThreadLimits} does for the
 * memory ledger: at most `maxThreadsPerOrg` threads per org across every instance, a thread's keys idle
 * out after `threadIdleTtlMs` (never before a hold on it lapses, nor under a minute), and a thread missing
 * from Redis (idled out, or Redis lost its data) is rebuilt from the store on its next call.
 */
function redisThreadLimits(
  budgets: Pick<TokenwardenConfig['budgets'], 'maxThreadsPerOrg' | 'threadIdleTtlMs'>,
  store: UsageStore | undefined,
  reservationTtlMs = 600_000,
): Pick<RedisBudgetLedgerOptions, 'groupOf' | 'maxThreadsPerGroup' | 'threadTtlMs' | 'restore'> {
  return {
    groupOf: (threadId) => splitScopedThreadId(threadId).org ?? '',
    maxThreadsPerGroup: budgets.maxThreadsPerOrg,
    threadTtlMs: Math.max(60_000, reservationTtlMs, budgets.threadIdleTtlMs),
    ...(store ? { restore: async (threadId: string) => (await store.summary({ threadId })).totals } : {}),
  };
}

/** Environment variables that make `serve` use a real provider when the file configures none. */
export const PROVIDER_KEY_VARIABLES = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'XAI_API_KEY'] as const;

/**
 * The models each environment-key backend serves: its own provider's names, never `*`, so a model of
 * another provider is a fast 404 `model_not_found` instead of a call the provider refuses.
 */
export const ENV_PROVIDER_MODELS = {
  openai: ['gpt-*', 'chatgpt-*', 'o1*', 'o3*', 'o4*', 'ft:*', 'text-embedding-*'],
  anthropic: ['claude-*'],
  xai: ['grok-*'],
} as const;

/**
 * The `providers` section to use when the file has none: one backend per provider key found in `env`
 * (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `XAI_API_KEY`) serving its provider's models
 * ({@link ENV_PROVIDER_MODELS}), or `undefined` when there is none (then the mock provider serves every
 * model).
 */
export function providersFromEnv(env: ConfigEnv): Record<string, unknown> | undefined {
  const has = (v: string): boolean => typeof env[v] === 'string' && env[v]!.trim() !== '';
  const backends: Record<string, unknown>[] = [];
  if (has('OPENAI_API_KEY')) backends.push({ name: 'openai', provider: 'openai', api_key_env: 'OPENAI_API_KEY', models: [...ENV_PROVIDER_MODELS.openai] });
  if (has('ANTHROPIC_API_KEY')) backends.push({ name: 'anthropic', provider: 'anthropic', api_key_env: 'ANTHROPIC_API_KEY', models: [...ENV_PROVIDER_MODELS.anthropic] });
  if (has('XAI_API_KEY')) backends.push({ name: 'xai', provider: 'xai', api_key_env: 'XAI_API_KEY', models: [...ENV_PROVIDER_MODELS.xai] });
  return backends.length > 0 ? { strategy: 'failover', backends } : undefined;
}

const MOCK_PROVIDERS = { strategy: 'failover', backends: [{ name: 'mock', provider: 'mock', models: ['*'] }] };

/** Closers of what has been opened so far, run in reverse order (and never throwing) on failure or close. */
type Cleanups = Array<() => Promise<void>>;

/**
 * Builds the store, ledger, tracker and router a configuration describes: the one place that maps the
 * config's words (`sqlite`, `postgres`, `memory`, `redis://…`, provider words) to objects. Drivers are
 * loaded only for the backends in use (no ioredis for a memory ledger, no pg for SQLite).
 *
 * @example
 * ```ts
 * const config = await loadConfig({ env: process.env });
 * const rt = await buildRuntime(config, { env: process.env });
 * const gateway = createGateway({ router: rt.router, store: rt.store, keys: rt.keys, models: rt.models });
 * ```
 */
export async function buildRuntime(config: TokenwardenConfig, options: { env?: ConfigEnv } = {}): Promise<Runtime> {
  const env = options.env ?? {};
  const warnings: string[] = [];
  const cleanups: Cleanups = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const prices = priceTableOf(config.prices);
    const tracker = new UsageTracker({ estimateCostNanos: (model, usage) => prices.estimateCostNanos(model, usage) });
    const store = await buildStore(config, cleanups);
    const ledger = await buildLedger(config, store.store, cleanups, warnings);
    const policies = await buildPolicies(config, store.store, prices, cleanups);
    const alerts = policies ? await buildAlerts(config, policies.ledger, cleanups, warnings) : undefined;
    const providers = config.providers ?? providersFromEnv(env);
    const mock = providers === undefined;
    const routerOptions = { env, ledger: ledger.ledger, tracker, ...(policies ? { policies: policies.guard } : {}) };
    const { router, parsed } = buildRouter(config, providers ?? MOCK_PROVIDERS, routerOptions);
    return {
      router,
      ledger: ledger.ledger,
      store: store.store,
      tracker,
      prices,
      policies: policies?.guard,
      policyLedger: policies?.ledger,
      alerts,
      keys: config.keys.map((k) => ({ name: k.name, sha256: k.sha256, org: k.org, admin: k.admin })),
      models: modelsOf(router.backends),
      mock,
      describe: { store: store.text, ledger: ledger.text, providers: describeProviders(parsed, mock, config.providers !== undefined) },
      warnings,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * A price table with the config's `prices:` as overrides (winning over the catalog and the built-in
 * table): a key written `name-*` is a prefix, any other key prices that exact name only.
 *
 * @example
 * ```ts
 * const table = priceTableOf(config.prices);
 * table.resolvePrice('my-llama-3')?.source; // 'override' when the config has "my-llama-*"
 * ```
 */
export function priceTableOf(prices: readonly ConfiguredPrice[]): PriceTable {
  const table = new PriceTable();
  for (const p of prices) table.setOverride(p.model, p.price, { prefix: p.prefix });
  return table;
}

/**
 * The usage store: PostgreSQL (opened now, so a bad URL fails the start) or SQLite. A PostgreSQL store's
 * spool is replayed into the database before the gateway serves: budgets (threads and policy lines) are
 * restored from the database on first touch, so events a killed run acknowledged but had not written yet
 * must be there first, or the restored spend would miss them for good.
 */
async function buildStore(config: TokenwardenConfig, cleanups: Cleanups): Promise<{ store: UsageStore; text: string }> {
  if (config.store.kind === 'postgres') {
    const { url, table, spool } = config.store;
    const { PostgresUsageStore } = await import('../stores/usage/postgres/postgres-usage-store.js');
    const store = new PostgresUsageStore({
      connectionString: url,
      ...(table !== undefined ? { table } : {}),
      ...(spool !== undefined ? { spoolPath: spool } : {}),
    });
    cleanups.push(() => store.close());
    await store.replaySpool(); // opens (migrates) it, then waits for what a killed run left in the spool
    return { store, text: `postgres ${redactUrl(url)}${table ? ` (table ${table})` : ''}` };
  }
  const { SqliteUsageStore } = await import('../stores/usage/sqlite/sqlite-usage-store.js');
  const store = new SqliteUsageStore({ path: config.store.path, writer: 'thread' });
  cleanups.push(() => store.close());
  return { store, text: `sqlite ${config.store.path}` };
}

/** The budget ledger: Redis (probed once; unreachable is a warning, not a failure) or in memory. */
async function buildLedger(
  config: TokenwardenConfig,
  store: UsageStore,
  cleanups: Cleanups,
  warnings: string[],
): Promise<{ ledger: BudgetLedger; text: string }> {
  const { defaultMaxTokens, thresholds } = config.budgets;
  const l = config.ledger;
  const ttl = l.reservationTtlMs !== undefined ? { reservationTtlMs: l.reservationTtlMs } : {};
  if (l.kind === 'memory') {
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: defaultMaxTokens, thresholds, ...ttl, ...gatewayThreadLimits(config.budgets, store) });
    cleanups.push(() => ledger.close());
    return { ledger, text: 'memory (this process only)' };
  }
  const { RedisBudgetLedger } = await import('../stores/ledgers/redis/redis-ledger.js');
  const ledger: BudgetLedger = new RedisBudgetLedger({
    url: l.url,
    maxTokensPerThread: defaultMaxTokens,
    thresholds,
    failOpen: l.failOpen,
    ...(l.keyPrefix !== undefined ? { keyPrefix: l.keyPrefix } : {}),
    ...ttl,
    ...redisThreadLimits(config.budgets, store, l.reservationTtlMs),
  });
  cleanups.push(() => ledger.close());
  try {
    await ledger.usage('tokenwarden:startup-probe');
  } catch (err) {
    warnings.push(`Redis ledger at ${redactUrl(l.url)} is unreachable (${(err as Error).message}); calls get 503 until it is back`);
  }
  const mode = l.failOpen ? ' (fail-open: calls go unmetered while Redis is down)' : ' (fail-closed: 503 while Redis is down)';
  return { ledger, text: `redis ${redactUrl(l.url)}${mode}` };
}

/**
 * The config's budget policies over their ledger: in memory (this process only) beside a memory thread
 * ledger, in Redis beside a Redis one (same URL, key prefix, hold TTL and fail-open). A budget line the ledger does not hold (after a restart, or idle) is restored from the usage
 * store, which records every call's cost and tokens. `undefined` without policies.
 */
async function buildPolicies(
  config: TokenwardenConfig,
  store: UsageStore,
  prices: PriceTable,
  cleanups: Cleanups,
): Promise<{ guard: BudgetPolicies; ledger: PolicyLedger } | undefined> {
  const { policies } = config.budgets;
  if (policies.length === 0) return undefined;
  const l = config.ledger;
  const ttl = l.reservationTtlMs !== undefined ? { reservationTtlMs: l.reservationTtlMs } : {};
  const restore = storePolicyRestorer(store, policies);
  let ledger: PolicyLedger;
  if (l.kind === 'redis') {
    // Beside a Redis thread ledger, policies live in the same Redis: they hold across every instance.
    const { RedisPolicyLedger } = await import('../stores/ledgers/redis/policy-ledger.js');
    ledger = new RedisPolicyLedger({ url: l.url, failOpen: l.failOpen, restore, ...ttl, ...(l.keyPrefix !== undefined ? { keyPrefix: l.keyPrefix } : {}) });
  } else {
    ledger = new MemoryPolicyLedger({ ...ttl, restore });
  }
  cleanups.push(() => ledger.close());
  const guard = new BudgetPolicies({ policies, ledger, prices });
  return { guard, ledger };
}

/**
 * The `alerts:` webhooks: started (undelivered alerts of an earlier run resume) and fed every alert the
 * policy ledger raises. Their warnings (a delivery given up, the outbox unwritable) go to stderr.
 */
async function buildAlerts(config: TokenwardenConfig, ledger: PolicyLedger, cleanups: Cleanups, warnings: string[]): Promise<WebhookAlerts | undefined> {
  if (config.alerts.length === 0) return undefined;
  const alerts = new WebhookAlerts({
    endpoints: config.alerts,
    outboxPath: config.alertsOutbox,
    onWarning: (w) => process.stderr.write(`[tokenwarden] alerts: ${w.message}\n`),
  });
  const { resumed } = await alerts.start();
  const off = ledger.onAlert((alert) => {
    if (worthAlerting(alert)) void alerts.send(alert);
  });
  cleanups.push(async () => {
    off();
    await alerts.close();
  });
  if (resumed > 0) warnings.push(`${resumed} undelivered budget alert(s) from an earlier run are being delivered again`);
  return alerts;
}

/**
 * Whether an alert goes out as a webhook: every threshold crossing, and a refusal of a budget the entity
 * has spent from. A rate limit's refusals (up to one per entity per minute) and refusals of entities that
 * never spent (a flood of new user ids, each refused by another line) would make a tenant able to fill the
 * outbox and every receiver; they are counted in `/metrics` and the dashboard instead.
 */
export function worthAlerting(alert: PolicyAlert): boolean {
  if (alert.type === 'threshold') return true;
  const s = alert.standing;
  return s.meter === 'budget' && (s.spentNanos > 0 || s.usedTokens > 0);
}

/** The router of the `providers` section; its problems (e.g. a key variable not set) are config problems. */
function buildRouter(
  config: TokenwardenConfig,
  section: Record<string, unknown>,
  options: { env: ConfigEnv; ledger: BudgetLedger; tracker: UsageTracker; policies?: BudgetPolicies },
): { router: LLMRouter; parsed: RouterConfig } {
  try {
    const parsed = parseRouterConfig(section, { env: options.env });
    return { router: configureRouter(section, options), parsed };
  } catch (err) {
    const { path, problem } = providersProblemOf(err);
    const where = config.providers ? 'providers' : 'providers (from the environment)';
    throw new InvalidConfigError([{ path: path ? `${where}.${path}` : where, problem }], config.file);
  }
}

/** One banner line per backend (or one saying the offline mock answers everything). */
function describeProviders(parsed: RouterConfig, mock: boolean, fromFile: boolean): string[] {
  if (mock) {
    return [
      `mock provider: no provider keys found (set ${PROVIDER_KEY_VARIABLES.join(', ')} or configure providers); every model is answered by the offline mock`,
    ];
  }
  return parsed.backends.map(
    (b) => `${b.name} (${b.provider}${b.baseUrl ? ` at ${b.baseUrl}` : ''}): ${b.models.join(', ')}` + (fromFile ? '' : ` [key from ${b.apiKeyEnv}]`),
  );
}
