import type { BudgetLedger } from '../budget/types.js';
import type { GatewayKey } from '../gateway/key-ring.js';
import type { GatewayModel } from '../gateway/create-gateway.js';
import { splitScopedThreadId } from '../gateway/thread-scope.js';
import { configureRouter, parseRouterConfig } from './router-config.js';
import type { LLMRouter } from '../router/router.js';
import { MemoryBudgetLedger, type MemoryBudgetLedgerOptions } from '../budget/memory-ledger.js';
import type { RedisBudgetLedgerOptions } from '../stores/ledgers/redis/redis-ledger.js';
import type { UsageStore } from '../usage/usage-store.js';
import { UsageTracker } from '../usage/tracker.js';
import { InvalidConfigError } from './config-problems.js';
import type { TokenwardenConfig } from './config-schema.js';
import type { ConfigEnv } from './validate-config.js';

/** Everything the gateway runs on, built from a {@link TokenwardenConfig}. */
export interface Runtime {
  router: LLMRouter;
  ledger: BudgetLedger;
  store: UsageStore;
  tracker: UsageTracker;
  keys: GatewayKey[];
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
export function redisThreadLimits(
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

const OPENAI_MODELS_BESIDE_OTHERS = ['gpt-*', 'chatgpt-*', 'o1*', 'o3*', 'o4*', 'ft:*'];

/**
 * The `providers` section to use when the file has none: one backend per provider key found in `env`
 * (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `XAI_API_KEY`), or `undefined` when there is none (then the
 * mock provider serves every model).
 */
export function providersFromEnv(env: ConfigEnv): Record<string, unknown> | undefined {
  const has = (v: string): boolean => typeof env[v] === 'string' && env[v]!.trim() !== '';
  const backends: Record<string, unknown>[] = [];
  const others = has('ANTHROPIC_API_KEY') || has('XAI_API_KEY');
  if (has('OPENAI_API_KEY')) {
    backends.push({ name: 'openai', provider: 'openai', api_key_env: 'OPENAI_API_KEY', models: others ? OPENAI_MODELS_BESIDE_OTHERS : ['*'] });
  }
  if (has('ANTHROPIC_API_KEY')) backends.push({ name: 'anthropic', provider: 'anthropic', api_key_env: 'ANTHROPIC_API_KEY', models: ['claude-*'] });
  if (has('XAI_API_KEY')) backends.push({ name: 'xai', provider: 'xai', api_key_env: 'XAI_API_KEY', models: ['grok-*'] });
  return backends.length > 0 ? { strategy: 'failover', backends } : undefined;
}

const MOCK_PROVIDERS = { strategy: 'failover', backends: [{ name: 'mock', provider: 'mock', models: ['*'] }] };

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

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
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const tracker = new UsageTracker();
    const { defaultMaxTokens, thresholds } = config.budgets;

    let store: UsageStore;
    let storeText: string;
    if (config.store.kind === 'postgres') {
      const { PostgresUsageStore } = await import('../stores/usage/postgres/postgres-usage-store.js');
      const pgStore = new PostgresUsageStore({
        connectionString: config.store.url,
        ...(config.store.table !== undefined ? { table: config.store.table } : {}),
        ...(config.store.spool !== undefined ? { spoolPath: config.store.spool } : {}),
      });
      cleanups.push(() => pgStore.close());
      await pgStore.open();
      store = pgStore;
      storeText = `postgres ${redactUrl(config.store.url)}${config.store.table ? ` (table ${config.store.table})` : ''}`;
    } else {
      const { SqliteUsageStore } = await import('../stores/usage/sqlite/sqlite-usage-store.js');
      const sqlite = new SqliteUsageStore({ path: config.store.path, writer: 'thread' });
      cleanups.push(() => sqlite.close());
      store = sqlite;
      storeText = `sqlite ${config.store.path}`;
    }

    let ledger: BudgetLedger;
    let ledgerText: string;
    if (config.ledger.kind === 'redis') {
      const { RedisBudgetLedger } = await import('../stores/ledgers/redis/redis-ledger.js');
      const l = config.ledger;
      ledger = new RedisBudgetLedger({
        url: l.url,
        maxTokensPerThread: defaultMaxTokens,
        thresholds,
        failOpen: l.failOpen,
        ...(l.keyPrefix !== undefined ? { keyPrefix: l.keyPrefix } : {}),
        ...(l.reservationTtlMs !== undefined ? { reservationTtlMs: l.reservationTtlMs } : {}),
        ...redisThreadLimits(config.budgets, store, l.reservationTtlMs),
      });
      cleanups.push(() => ledger.close());
      ledgerText = `redis ${redactUrl(l.url)}${l.failOpen ? ' (fail-open: calls go unmetered while Redis is down)' : ' (fail-closed: 503 while Redis is down)'}`;
      try {
        await ledger.usage('tokenwarden:startup-probe');
      } catch (err) {
        warnings.push(`Redis ledger at ${redactUrl(l.url)} is unreachable (${(err as Error).message}); calls get 503 until it is back`);
      }
    } else {
      ledger = new MemoryBudgetLedger({
        maxTokensPerThread: defaultMaxTokens,
        thresholds,
        ...(config.ledger.reservationTtlMs !== undefined ? { reservationTtlMs: config.ledger.reservationTtlMs } : {}),
        ...gatewayThreadLimits(config.budgets, store),
      });
      cleanups.push(() => ledger.close());
      ledgerText = 'memory (this process only)';
    }

    const providers = config.providers ?? providersFromEnv(env);
    const mock = providers === undefined;
    const section = providers ?? MOCK_PROVIDERS;
    let router: LLMRouter;
    let parsed;
    try {
      parsed = parseRouterConfig(section, { env });
      router = configureRouter(section, { env, ledger, tracker });
    } catch (err) {
      const path = typeof (err as { path?: unknown }).path === 'string' ? (err as { path: string }).path : '';
      const message = err instanceof Error ? err.message : String(err);
      const problem = path && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
      const where = config.providers ? 'providers' : 'providers (from the environment)';
      throw new InvalidConfigError([{ path: path ? `${where}.${path}` : where, problem }], config.file);
    }

    const models: GatewayModel[] = [];
    const seen = new Set<string>();
    for (const b of parsed.backends) {
      for (const m of b.models) {
        if (!m.includes('*') && !seen.has(m)) {
          seen.add(m);
          models.push({ id: m, ownedBy: b.provider });
        }
      }
    }
    if (mock) models.push({ id: 'mock', ownedBy: 'mock' });

    const providerLines = mock
      ? [`mock provider: no provider keys found (set ${PROVIDER_KEY_VARIABLES.join(', ')} or configure providers); every model is answered by the offline mock`]
      : parsed.backends.map(
          (b) =>
            `${b.name} (${b.provider}${b.baseUrl ? ` at ${b.baseUrl}` : ''}): ${b.models.join(', ')}` +
            (config.providers ? '' : ` [key from ${b.apiKeyEnv}]`),
        );

    return {
      router,
      ledger,
      store,
      tracker,
      keys: config.keys.map((k) => ({ name: k.name, sha256: k.sha256, org: k.org, admin: k.admin })),
      models,
      mock,
      describe: { store: storeText, ledger: ledgerText, providers: providerLines },
      warnings,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
