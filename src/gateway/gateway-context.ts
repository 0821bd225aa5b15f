import type { BudgetLedger } from '../budget/types.js';
import { AllBackendsFailedError, BudgetExhaustedError, LedgerUnavailableError, ProviderError } from '../core/errors.js';
import type { LLMRouter } from '../router/router.js';
import { UsageCommitter } from '../usage/usage-committer.js';
import type { UsageStore } from '../usage/usage-store.js';
import type { UsageEvent } from '../usage/types.js';
import type { GatewayPolicies } from './budgets-api.js';
import { EdgeGuard } from './edge-guard.js';
import type { GatewayOptions, GatewaySettings } from './gateway-options.js';
import { modelsOf, type GatewayModel } from './model-list.js';
import type { HttpError } from './http-error.js';
import { KeyRing } from './key-ring.js';
import { GatewayLifecycle } from './lifecycle.js';
import { LiveThreads } from './live-threads.js';
import { GatewayMetrics } from './metrics.js';
import { ReadinessMonitor } from './readiness.js';

/** Everything a route handler, the dispatcher and shutdown share: one per gateway. */
export interface GatewayContext {
  readonly router: LLMRouter;
  /** The router's ledger: thread budgets. */
  readonly ledger: BudgetLedger;
  readonly store: UsageStore | undefined;
  /** Writes the tracker's events to the store (group commit); none without a store. */
  readonly committer: UsageCommitter | undefined;
  readonly live: LiveThreads;
  readonly keys: KeyRing;
  /** The org of each configured key, by name (whose key-scope budgets an org key may read). */
  readonly keyOrgs: ReadonlyMap<string, string | null>;
  /** Budget policies and their ledger, for `/v1/budgets` (the router enforces them). */
  readonly policies: GatewayPolicies | undefined;
  readonly guard: EdgeGuard;
  readonly metrics: GatewayMetrics;
  readonly readiness: ReadinessMonitor;
  readonly models: readonly GatewayModel[];
  /** Epoch ms. */
  readonly startedAt: number;
  readonly bodyLimit: number;
  readonly requireThread: boolean;
  readonly lifecycle: GatewayLifecycle;
  /** Unsubscribe the gateway from the router's tracker (run at shutdown). */
  readonly detachers: Array<() => void>;
  logError(message: string, err: unknown): void;
  /** Called with each error answered to a client (metrics, readiness, logging of 500s). */
  onError(err: unknown, mapped: HttpError): void;
  /** Resolves once the call's usage event is in the store. */
  durable(event: UsageEvent): Promise<void>;
  /** Makes every acknowledged call's event visible to store queries (read-your-writes). */
  flushUsage(): Promise<void>;
}

const defaultLogError = (message: string, err: unknown): void => console.error(`[tokenwarden] ${message}`, err);

/** Builds the gateway's parts from checked options and subscribes them to the router's tracker. */
export function createGatewayContext(options: GatewayOptions, settings: GatewaySettings): GatewayContext {
  const { router, store } = options;
  const ledger: BudgetLedger = router.ledger;
  const keys = new KeyRing(options.keys ?? []);
  const metrics = options.metrics ?? new GatewayMetrics();
  const logError = options.logError ?? defaultLogError;
  const detachers: Array<() => void> = [observeCompletions(router, metrics)];
  // Cached readiness: serving a call never waits on a probe (refreshed on a timer and on failures).
  const intervalMs = settings.readinessIntervalMs;
  const readiness = new ReadinessMonitor({ store, ledger, intervalMs, timeoutMs: Math.max(intervalMs, 1000) });
  readiness.start();
  const committer = store
    ? new UsageCommitter(store, (err, events) => {
        logError(`writing ${events.length} usage event(s) to the store failed`, err);
        void readiness.refresh();
      })
    : undefined;
  if (committer) detachers.push(committer.attach(router.tracker));
  const live = new LiveThreads(settings.maxLiveThreads);
  // The ledger knows its own counts; a shared ledger that cannot tell cheaply falls back to this process's index.
  metrics.setGaugeCollector(() => ledger.stats?.() ?? { liveThreads: live.size });
  return {
    router,
    ledger,
    store,
    committer,
    live,
    keys,
    keyOrgs: new Map((options.keys ?? []).map((k) => [k.name, k.org ?? null])),
    policies: options.policies,
    guard: new EdgeGuard({ keyed: keys.enabled, corsOrigins: settings.corsOrigins }),
    metrics,
    readiness,
    models: options.models ?? modelsOf(router.backends),
    startedAt: Date.now(),
    bodyLimit: settings.bodyLimit,
    requireThread: options.requireThread === true,
    lifecycle: new GatewayLifecycle(),
    detachers,
    logError,
    onError: (err, mapped) => observeError(metrics, readiness, logError, err, mapped),
    durable: (event) => (committer ? committer.durable(event) : Promise.resolve()),
    flushUsage: async () => {
      await committer?.flush();
      await store?.flush();
    },
  };
}

/** Counts every completed call's tokens, cost and latency; returns the unsubscribe. */
function observeCompletions(router: LLMRouter, metrics: GatewayMetrics): () => void {
  return router.tracker.subscribe((e: UsageEvent) =>
    metrics.observeCompletion({
      model: e.model,
      provider: e.provider,
      promptTokens: e.promptTokens,
      completionTokens: e.completionTokens,
      costNanos: e.costNanos,
      latencyMs: e.latencyMs,
      overspendTokens: e.overspendTokens,
    }),
  );
}

/** What an error answered to a client tells the gateway: refusals and provider errors for metrics, a ledger outage for readiness. */
function observeError(metrics: GatewayMetrics, readiness: ReadinessMonitor, logError: GatewayContext['logError'], err: unknown, mapped: HttpError): void {
  if (err instanceof LedgerUnavailableError) void readiness.refresh();
  metrics.observeRefusal(mapped);
  if (err instanceof BudgetExhaustedError) metrics.budgetRefused();
  else if (err instanceof ProviderError) metrics.providerError({ provider: err.provider, code: err.status ?? err.code });
  else if (err instanceof AllBackendsFailedError) {
    for (const e of err.errors) if (e instanceof ProviderError) metrics.providerError({ provider: e.provider, code: e.status ?? e.code });
  }
  if (mapped.status >= 500 && mapped.code === 'internal_error') logError('internal error while serving a request', err);
}
