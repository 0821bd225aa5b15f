import { z } from 'zod';
import type { ThreadBudgetRegistry } from '../budget/registry.js';
import type { PolicyGuard } from '../budget/policy-types.js';
import type { BudgetLedger } from '../budget/types.js';
import { abortableSleep } from '../core/abort.js';
import { optionsPrefix, parseOptions } from '../core/options.js';
import type { Backend, ChatMessage, CompletionRequest } from '../core/types.js';
import { estimateTokens, estimateToolsTokens } from '../tokens/estimate.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { BackendEntry } from './backend-limits.js';
import { CooldownOptionsSchema, resolveCooldownPolicy, type CooldownOptions, type CooldownPolicy } from './cooldown.js';
import { functionOption, tokenCountOption, unknownKey } from '../core/option-schemas.js';
import { positiveMs } from './option-schemas.js';
import { resolveRetryPolicy, RetryOptionsSchema, type RetryOptions, type RetryPolicy } from './retry.js';
import { ROUTING_STRATEGIES, type RoutingStrategy } from './strategy.js';

/** Options of `LLMRouter`. Every one is optional. */
export interface LLMRouterOptions {
  /** Initial backends (objects implementing {@link Backend}, optionally with limits). */
  backends?: ReadonlyArray<Backend | BackendEntry>;
  /** Backend selection. Default `failover`. */
  strategy?: RoutingStrategy;
  /** Where thread budgets live. Default: the global registry (`getBudgetRegistry()`), looked up per call. */
  ledger?: BudgetLedger;
  /** A registry to hold budgets in (wrapped in a MemoryBudgetLedger). Exclusive with `ledger`. */
  registry?: ThreadBudgetRegistry;
  /**
   * Budget policies (a `BudgetPolicies`, or any {@link PolicyGuard}) every charged call reserves its
   * estimate against before the first attempt, settled to the call's usage event after it is recorded.
   * A refusal (`PolicyExhaustedError`, `RateLimitedError`, `UnpricedModelError`) calls no backend.
   * Default: none.
   */
  policies?: PolicyGuard;
  /** Receives one usage event per successful call. Default: the global tracker, looked up per call. */
  tracker?: UsageTracker;
  retries?: RetryOptions;
  cooldown?: CooldownOptions;
  /** Completion tokens reserved when a request has no `maxTokens`. Default 1 024. */
  defaultCompletionReserve?: number;
  /**
   * Most completion tokens a call without `maxTokens` may produce (the reservation stays
   * `defaultCompletionReserve`): its stream is cut past it and reported usage above it is implausible.
   * Default 131 072, the longest output of current models. With `maxTokens`, `maxTokens` is the limit.
   */
  completionCeiling?: number;
  /**
   * Longest a stream may run in all, ms; then it is cut (a `STREAM_TOO_LONG` provider error, charged at
   * the reservation). A call's own shorter `timeoutMs` wins. Default 600 000 (10 minutes).
   */
  maxStreamDurationMs?: number;
  /** Timeout of one attempt on a backend without its own `timeoutMs`, ms. Default 120 000. */
  timeoutMs?: number;
  /**
   * Prompt token estimate used for reservations and when a provider reports no usage. Default: the
   * messages and tool definitions, with the tokenizer profile of the requested model.
   */
  estimateTokens?: (messages: ChatMessage[], request: CompletionRequest) => number;
  /** Clock (epoch ms) for rate windows, cooldowns and Retry-After. Default `Date.now`. */
  now?: () => number;
  /** Waits between attempts; must reject when `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of backoff jitter in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** {@link LLMRouterOptions} checked, with every default filled in. */
export interface RouterSettings {
  backends: ReadonlyArray<Backend | BackendEntry>;
  strategy: RoutingStrategy;
  ledger: BudgetLedger | undefined;
  registry: ThreadBudgetRegistry | undefined;
  tracker: UsageTracker | undefined;
  policies: PolicyGuard | undefined;
  retryPolicy: Readonly<RetryPolicy>;
  cooldownPolicy: Readonly<CooldownPolicy>;
  defaultCompletionReserve: number;
  completionCeiling: number;
  maxStreamDurationMs: number;
  timeoutMs: number;
  estimatePrompt: (messages: ChatMessage[], request: CompletionRequest) => number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

const OPTION_KEYS = [
  'backends', 'strategy', 'ledger', 'registry', 'tracker', 'policies', 'retries', 'cooldown', 'defaultCompletionReserve',
  'completionCeiling', 'maxStreamDurationMs', 'timeoutMs', 'estimateTokens', 'now', 'sleep', 'random',
];
const MAX_TOKENS = Number.MAX_SAFE_INTEGER;

const atLeastOne = 'must be an integer >= 1';
const hasMethods = (value: unknown, ...names: string[]): boolean =>
  typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

/** The router's options; an unknown one is named before any bad value (see `parseOptions`). */
const RouterOptionsSchema = z
  .object(
    {
      strategy: z.enum(ROUTING_STRATEGIES, { error: `must be one of ${ROUTING_STRATEGIES.join(', ')}` }).optional(),
      retries: RetryOptionsSchema.optional(),
      cooldown: CooldownOptionsSchema.optional(),
      defaultCompletionReserve: tokenCountOption.optional(),
      completionCeiling: z
        .number({ error: atLeastOne })
        .max(MAX_TOKENS, { error: `must be at most ${MAX_TOKENS}` })
        .int({ error: atLeastOne })
        .min(1, { error: atLeastOne })
        .optional(),
      maxStreamDurationMs: positiveMs().optional(),
      timeoutMs: positiveMs().optional(),
      ledger: z
        .custom<BudgetLedger>((v) => hasMethods(v, 'reserve', 'settle', 'release'), { error: 'must be a BudgetLedger (reserve, settle, release, usage, ...)' })
        .optional(),
      registry: z.custom<ThreadBudgetRegistry>((v) => hasMethods(v, 'reserve'), { error: 'must be a ThreadBudgetRegistry' }).optional(),
      tracker: z.custom<UsageTracker>((v) => hasMethods(v, 'record'), { error: 'must be a UsageTracker (an object with record())' }).optional(),
      policies: z
        .custom<PolicyGuard>((v) => hasMethods(v, 'reserve', 'settle', 'release'), { error: 'must be a PolicyGuard (reserve, settle, release), e.g. a BudgetPolicies' })
        .optional(),
      estimateTokens: functionOption<LLMRouterOptions['estimateTokens']>().optional(),
      now: functionOption<() => number>().optional(),
      sleep: functionOption<(ms: number, signal?: AbortSignal) => Promise<void>>().optional(),
      random: functionOption<() => number>().optional(),
      backends: z.array(z.unknown(), { error: 'must be an array' }).optional(),
    },
    { error: 'must be an object' },
  )
  .catchall(unknownKey(`unknown LLMRouter option (expected one of ${OPTION_KEYS.join(', ')})`))
  .superRefine((options, ctx) => {
    if (options.ledger !== undefined && options.registry !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['registry'], message: 'cannot be combined with the ledger option (pass one)' });
    }
  });

/** Checks `new LLMRouter(options)` (naming the bad option) and fills in the defaults. */
export function resolveRouterOptions(options: LLMRouterOptions): RouterSettings {
  const o = parseOptions(RouterOptionsSchema, options, optionsPrefix(options));
  return {
    backends: options.backends ?? [],
    strategy: o.strategy ?? 'failover',
    ledger: o.ledger,
    registry: o.registry,
    tracker: o.tracker,
    policies: o.policies,
    retryPolicy: Object.freeze(resolveRetryPolicy(options.retries, 'retries')),
    cooldownPolicy: Object.freeze(resolveCooldownPolicy(options.cooldown, 'cooldown')),
    defaultCompletionReserve: o.defaultCompletionReserve ?? 1_024,
    completionCeiling: o.completionCeiling ?? 131_072,
    maxStreamDurationMs: o.maxStreamDurationMs ?? 600_000,
    timeoutMs: o.timeoutMs ?? 120_000,
    estimatePrompt: o.estimateTokens ?? defaultPromptEstimate,
    now: o.now ?? Date.now,
    sleep: o.sleep ?? abortableSleep,
    random: o.random ?? Math.random,
  };
}

function defaultPromptEstimate(messages: ChatMessage[], request: CompletionRequest): number {
  const options = { model: request.model };
  return estimateTokens(messages, options) + estimateToolsTokens(request.tools, options);
}
