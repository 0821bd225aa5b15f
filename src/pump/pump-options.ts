import type { BudgetLedger } from '../budget/types.js';
import { ConfigError, ValidationError } from '../core/errors.js';
import type { Metadata } from '../core/types.js';
import { assertPositiveInteger, assertPositiveTokens } from '../core/validate.js';
import type { Completer, PumpCompletion, PumpLogger, StartOptions } from './types.js';

/** Options of {@link MessagePump}. */
export interface MessagePumpOptions<R extends PumpCompletion = PumpCompletion> {
  /** Serves `ctx.complete()` (an `LLMRouter`). Without it, handlers cannot make LLM calls. */
  router?: Completer<R>;
  /**
   * Where thread budgets live: the pump sets a thread's `maxTokens` here and ends the thread here.
   * Must be the ledger the router charges. Default: `router.ledger` when the router exposes one (read
   * when each thread starts, so a router following the global registry stays in step).
   */
  ledger?: BudgetLedger;
  /** Threads running at once. Default 256. */
  maxConcurrentThreads?: number;
  /** Threads accepted but waiting for a running slot. Default 1024. */
  maxQueue?: number;
  /**
   * When the queue is full, `start()` waits for room (`'wait'`, default; at most `maxQueue` callers
   * wait, further ones are refused) or rejects at once with `QueueFullError` (`'reject'`).
   */
  onFull?: 'wait' | 'reject';
  /** Longest call chain (callers waiting for a response) in a thread. Default 32. */
  maxDepth?: number;
  /** Most handler invocations in one thread (stops ping-pong loops). Default 1000. */
  maxSteps?: number;
  /** Default per-step handler timeout in ms (agents may set their own). Default 60 000. */
  handlerTimeoutMs?: number;
  /**
   * After a step ends (or times out) its LLM calls are aborted; the pump waits up to this long for them
   * to release their reservations before ending the thread's budget. Default 5 000.
   */
  abortGraceMs?: number;
  /** Receives a debug line per ended thread, and warnings. Default: silent. */
  logger?: PumpLogger;
}

/** {@link MessagePumpOptions} checked, with every default filled in. */
export interface PumpSettings<R extends PumpCompletion = PumpCompletion> {
  readonly router: Completer<R> | undefined;
  /** The ledger passed as `options.ledger`; without one, each thread reads `router.ledger`. */
  readonly fixedLedger: BudgetLedger | undefined;
  readonly maxConcurrentThreads: number;
  readonly maxQueue: number;
  readonly onFull: 'wait' | 'reject';
  readonly maxDepth: number;
  readonly maxSteps: number;
  readonly handlerTimeoutMs: number;
  readonly abortGraceMs: number;
  readonly logger: PumpLogger;
}

const PUMP_OPTION_KEYS = [
  'router', 'ledger', 'maxConcurrentThreads', 'maxQueue', 'onFull', 'maxDepth', 'maxSteps', 'handlerTimeoutMs',
  'abortGraceMs', 'logger',
];
const START_OPTION_KEYS = ['metadata', 'maxTokens'];
const SILENT: PumpLogger = { debug() {} };
const NO_METADATA: Readonly<Metadata> = Object.freeze({});

/**
 * Checks the pump's constructor options and fills in the defaults. Hand-written rather than a zod schema:
 * the messages (unknown keys listed, the router/ledger pairing as a `ConfigError`) are pinned by tests.
 */
export function resolvePumpOptions<R extends PumpCompletion>(options: MessagePumpOptions<R>): PumpSettings<R> {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  assertKnownKeys('', options, PUMP_OPTION_KEYS, 'MessagePump option');
  const {
    router,
    maxConcurrentThreads = 256,
    maxQueue = 1024,
    onFull = 'wait',
    maxDepth = 32,
    maxSteps = 1000,
    handlerTimeoutMs = 60_000,
    abortGraceMs = 5_000,
    logger = SILENT,
  } = options;
  assertRouterAndLedger(router, options.ledger);
  assertPositiveInteger('maxConcurrentThreads', maxConcurrentThreads);
  assertPositiveInteger('maxQueue', maxQueue);
  if (onFull !== 'wait' && onFull !== 'reject') throw new ValidationError('onFull', onFull, 'must be "wait" or "reject"');
  assertPositiveInteger('maxDepth', maxDepth);
  assertPositiveInteger('maxSteps', maxSteps);
  assertPositiveInteger('handlerTimeoutMs', handlerTimeoutMs);
  assertPositiveInteger('abortGraceMs', abortGraceMs);
  if (logger === null || typeof logger !== 'object' || typeof logger.debug !== 'function') {
    throw new ValidationError('logger', logger, 'must be an object with a debug(message, fields) method');
  }
  return {
    router, fixedLedger: options.ledger, maxConcurrentThreads, maxQueue, onFull, maxDepth, maxSteps, handlerTimeoutMs,
    abortGraceMs, logger,
  };
}

function assertRouterAndLedger(router: unknown, ledger: unknown): void {
  if (router !== undefined && (router === null || typeof (router as { complete?: unknown }).complete !== 'function')) {
    throw new ValidationError('router', router, 'must have a complete(request) method (an LLMRouter)');
  }
  if (ledger !== undefined && !isLedger(ledger)) {
    throw new ValidationError('ledger', ledger, 'must implement BudgetLedger (setBudget, usage, endThread)');
  }
  const routerLedger = ledgerOf(router);
  if (ledger !== undefined && routerLedger !== undefined && routerLedger !== ledger) {
    throw new ConfigError('ledger', "is not the router's ledger: the pump must end budgets in the ledger the router charges");
  }
}

/**
 * Checks `start()`'s options; `ledgerNow` gives the ledger the thread would use (a `maxTokens` needs one).
 * Hand-written, not zod: it runs once per thread, on the pump's hot path.
 */
export function validateStartOptions(
  options: StartOptions,
  ledgerNow: () => BudgetLedger | undefined,
): { metadata: Readonly<Metadata>; maxTokens: number | undefined } {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  assertKnownKeys('options.', options, START_OPTION_KEYS, 'start() option');
  const { metadata, maxTokens } = options;
  if (maxTokens !== undefined) {
    assertPositiveTokens('options.maxTokens', maxTokens);
    if (!ledgerNow()) throw new ConfigError('options.maxTokens', 'needs a budget ledger: pass new MessagePump({ ledger }) or a router with one');
  }
  if (metadata === undefined) return { metadata: NO_METADATA, maxTokens };
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ValidationError('options.metadata', metadata, 'must be an object of strings, numbers, booleans or nulls');
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ValidationError(`options.metadata.${key}`, value, 'must be a string, number, boolean or null');
    }
  }
  return { metadata: Object.freeze({ ...metadata }), maxTokens };
}

/** The ledger a router exposes as `router.ledger`, when it has one. */
export function ledgerOf(router: unknown): BudgetLedger | undefined {
  if (router === null || typeof router !== 'object') return undefined;
  const ledger = (router as { ledger?: unknown }).ledger;
  return isLedger(ledger) ? ledger : undefined;
}

function isLedger(value: unknown): value is BudgetLedger {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.setBudget === 'function' && typeof v.usage === 'function' && typeof v.endThread === 'function';
}

/** Throws for a key of `options` not in `known` (catches typos such as `maxConcurency`). */
function assertKnownKeys(prefix: string, options: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ValidationError(prefix + key, (options as Record<string, unknown>)[key], `unknown ${what} (expected one of ${known.join(', ')})`);
    }
  }
}
