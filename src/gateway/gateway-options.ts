import { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { ValidationError } from '../core/errors.js';
import type { LLMRouter } from '../router/router.js';
import type { UsageStore } from '../usage/usage-store.js';
import type { GatewayPolicies } from './budgets-api.js';
import { normalizeOrigins } from './edge-guard.js';
import type { GatewayModel } from './model-list.js';
import type { GatewayKey } from './key-ring.js';
import type { GatewayMetrics } from './metrics.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './server-hooks.js';

/** Options of {@link createGateway}. Only `router` is required. */
export interface GatewayOptions {
  /** The router calls go through; its ledger holds the thread budgets and its tracker meters calls. */
  router: LLMRouter;
  /**
   * Usage store behind `/v1/usage/*`. The gateway writes every event the router's tracker records to it
   * (group commit: one write per event-loop turn) and sends a call's response only once its event is
   * stored. Do not also `attach` the store to the tracker. Without a store the usage routes answer 501.
   */
  store?: UsageStore;
  /**
   * Gateway keys (hashed). None ("keyless mode"): no auth, `listen` refuses non-loopback hosts, and only
   * requests addressed to a loopback `Host` with `application/json` bodies are served (see {@link EdgeGuard}).
   */
  keys?: readonly GatewayKey[];
  /** Largest request body, bytes. Default 4 MiB. */
  bodyLimit?: number;
  /**
   * Longest wait for a request's headers, ms (then 408 and the socket is closed). Default 10 000:
   * a slow or hostile client ("slowloris") holds a socket at most this long.
   */
  headersTimeoutMs?: number;
  /** Longest wait for a whole request (headers and body), ms; at least `headersTimeoutMs`. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * Browser origins (`https://app.example.com`) whose pages may call the gateway (CORS). Default none:
   * requests carrying any other `Origin` than the gateway's own are refused (403), in both modes.
   */
  corsOrigins?: readonly string[];
  /** How often the store's and ledger's readiness is refreshed for `/readyz` and the call gate, ms. Default 2 000. */
  readinessIntervalMs?: number;
  /** Refuse chat calls without `x-thread-id` (400). Default false: they are metered, not budgeted. */
  requireThread?: boolean;
  /** Metrics registry. Default: a new {@link GatewayMetrics}. */
  metrics?: GatewayMetrics;
  /**
   * Budget policies served by `/v1/budgets` (state, per-entity overrides): the policies (a `BudgetPolicies`)
   * and their ledger. Give the router the same `BudgetPolicies` as its `policies` option: the router
   * enforces them, the gateway shows and adjusts them. Default none (`/v1/budgets` answers 404).
   */
  policies?: GatewayPolicies;
  /** Serve the dashboard at `GET /`. Default true. */
  dashboard?: boolean;
  /** Models listed by `GET /v1/models`. Default: exact model names found on the router's backends. */
  models?: readonly GatewayModel[];
  /** Most threads kept in the live-thread index (`GET /v1/threads`). Default 10 000. */
  maxLiveThreads?: number;
  /** How long {@link Gateway.close} waits for in-flight requests before cutting them, ms. Default 30 000. */
  shutdownTimeoutMs?: number;
  /** Close the store, the router's ledger and the policies' ledger in {@link Gateway.close}. Default true. */
  closeResources?: boolean;
  /** Receives unexpected errors (answered 500) and shutdown problems. Default: `console.error`. */
  logError?: (message: string, err: unknown) => void;
}

/** The numbers and lists of {@link GatewayOptions}, checked and with their defaults. */
export interface GatewaySettings {
  bodyLimit: number;
  shutdownTimeoutMs: number;
  maxLiveThreads: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  readinessIntervalMs: number;
  corsOrigins: string[];
}

const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

/** An optional safe integer >= `min` (`null` counts as not given). */
const integerAtLeast = (min: number) => {
  const error = `must be an integer >= ${min}`;
  return z
    .number({ error })
    .refine((v) => Number.isSafeInteger(v) && v >= min, { error })
    .nullish();
};

const GatewayOptionsSchema = z.object(
  {
    router: z.custom<LLMRouter>(
      (r) => typeof r === 'object' && r !== null && typeof (r as LLMRouter).complete === 'function' && typeof (r as LLMRouter).stream === 'function',
      { error: 'must be an LLMRouter' },
    ),
    bodyLimit: integerAtLeast(1),
    shutdownTimeoutMs: integerAtLeast(0),
    maxLiveThreads: integerAtLeast(1),
    headersTimeoutMs: integerAtLeast(1),
    requestTimeoutMs: integerAtLeast(1),
    readinessIntervalMs: integerAtLeast(10),
    corsOrigins: z.array(z.unknown(), { error: 'must be an array of origins' }).optional(),
    policies: z
      .custom<GatewayPolicies>(isGatewayPolicies, {
        error: 'must be { guard, ledger }: a BudgetPolicies (policies, policy(), lineFor()) and its PolicyLedger',
      })
      .optional(),
  },
  { error: 'must be an object' },
);

function hasMethods(v: unknown, ...names: string[]): boolean {
  return typeof v === 'object' && v !== null && names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');
}

function isGatewayPolicies(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { guard, ledger } = v as Partial<GatewayPolicies>;
  return hasMethods(guard, 'policy', 'lineFor') && Array.isArray(guard!.policies) && hasMethods(ledger, 'standing', 'top', 'setOverride', 'deleteOverride', 'close');
}

/** Checks the options of {@link createGateway} (once, at construction) and fills in the defaults. */
export function parseGatewayOptions(options: GatewayOptions): GatewaySettings {
  const o = parseOptions(GatewayOptionsSchema, options, 'options');
  const headersTimeoutMs = o.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeoutMs = o.requestTimeoutMs ?? Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ValidationError('options.headersTimeoutMs', headersTimeoutMs, `must not exceed options.requestTimeoutMs (${requestTimeoutMs})`);
  }
  return {
    bodyLimit: o.bodyLimit ?? DEFAULT_BODY_LIMIT,
    shutdownTimeoutMs: o.shutdownTimeoutMs ?? 30_000,
    maxLiveThreads: o.maxLiveThreads ?? 10_000,
    headersTimeoutMs,
    requestTimeoutMs,
    readinessIntervalMs: o.readinessIntervalMs ?? 2000,
    corsOrigins: normalizeOrigins('options.corsOrigins', o.corsOrigins ?? []),
  };
}
