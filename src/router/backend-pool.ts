import { NoBackendError, ValidationError } from '../core/errors.js';
import { formatPath } from '../core/format-path.js';
import { AbortScope } from '../core/abort.js';
import type { Backend, WireApi } from '../core/types.js';
import { assertBackend, parseBackendLimits, type BackendLimits } from './backend-limits.js';
import { BackendHealth } from './cooldown.js';
import { ConcurrencyLimiter, TokenRateWindow, type WindowEntry } from './limits.js';
import { orderBackends, type RoutingStrategy } from './strategy.js';

const DEFAULT_MAX_QUEUE = 1_000;

/**
 * What a call asks of its backends: a completion, a stream, embeddings, or a request of a wire API passed
 * through unchanged (`forward`, `forwardStream`: only backends speaking that API natively).
 */
export type CallKind = 'complete' | 'stream' | 'embed' | { forward: WireApi; stream: boolean };

/** What the router keeps about one backend: its limits, its health and its calls in flight. */
export interface BackendState {
  limiter: ConcurrencyLimiter | undefined;
  tpm: TokenRateWindow | undefined;
  timeoutMs: number | undefined;
  health: BackendHealth;
  /** Calls in flight, counted by the router (never written into the backend object). */
  inFlight: number;
}

/** A backend held for one attempt; `end()` gives it back (once). */
export interface Lease {
  backend: Backend;
  state: BackendState;
  attempt: AbortScope;
  timeoutMs: number | undefined;
  tpmEntry: WindowEntry | undefined;
  end(): void;
}

/** The first usable backend of a call's order, or the one usable soonest, and how long until then. */
export interface BackendPick {
  backend: Backend;
  waitMs: number;
}

/**
 * The router's backends: the configured list (a plain array callers may push to), each backend's state
 * kept beside it (a WeakMap, so a removed backend leaves nothing behind), the strategy's order for a
 * call, and leases that count calls in flight.
 */
export class BackendPool {
  /** The backends, in configured order. */
  readonly backends: Backend[] = [];
  private readonly states = new WeakMap<Backend, BackendState>();
  private turn = 0;

  constructor(
    private readonly strategy: RoutingStrategy,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** Adds a backend, or sets the limits of one already added; `path` names it in errors. */
  add(backend: Backend, limits: BackendLimits, path: readonly PropertyKey[]): void {
    assertBackend(backend, path);
    const existing = this.backends.find((b) => b.name === backend.name);
    if (existing && existing !== backend) {
      throw new ValidationError(`${formatPath(path)}.name`, backend.name, 'a backend with this name is already configured (names must be unique)');
    }
    this.states.set(backend, this.buildState(backend, parseBackendLimits(limits, path)));
    if (!existing) this.backends.push(backend);
  }

  /** Removes a backend (by object or name); whether one was removed. */
  remove(backend: Backend | string): boolean {
    const i = this.backends.findIndex((b) => (typeof backend === 'string' ? b.name === backend : b === backend));
    if (i < 0) return false;
    this.backends.splice(i, 1);
    return true;
  }

  /** Calls in flight on a backend (what `least-loaded` compares). */
  inFlight(backend: Backend): number {
    return this.states.get(backend)?.inFlight ?? 0;
  }

  /** Whether the backend is cooling down at `now`. */
  isCooling(backend: Backend, now: number): boolean {
    return this.states.get(backend)?.health.isCooling(now) ?? false;
  }

  stateOf(backend: Backend): BackendState {
    let state = this.states.get(backend);
    if (!state) {
      state = { limiter: undefined, tpm: undefined, timeoutMs: undefined, health: new BackendHealth(), inFlight: 0 };
      this.states.set(backend, state);
    }
    return state;
  }

  /** The backends serving `model` (and able to stream, for a stream), in the strategy's order for one call. */
  orderFor(model: string, kind: CallKind): Backend[] {
    const order = orderBackends(this.strategy, this.candidates(model, kind), { turn: this.turn++, loadOf: (b) => this.inFlight(b) });
    if (this.turn > Number.MAX_SAFE_INTEGER - 1) this.turn = 0;
    return order;
  }

  /** Whether any backend of `order` has a tokens-per-minute window (then each attempt needs a token count). */
  anyRateLimited(order: readonly Backend[]): boolean {
    return order.some((b) => this.states.get(b)?.tpm !== undefined);
  }

  /** Timeout of one attempt: the router's limit for the backend, else the backend's own, else the default. */
  attemptTimeoutOf(backend: Backend): number {
    const own = backend.timeoutMs;
    const fromBackend = typeof own === 'number' && Number.isFinite(own) && own > 0 ? own : undefined;
    return this.stateOf(backend).timeoutMs ?? fromBackend ?? this.defaultTimeoutMs;
  }

  /**
   * The first usable backend of `order` from `start` on; if none is usable now, the one usable soonest
   * (cooling backends last). `waitedFor` has just been waited for: its Retry-After is served.
   */
  pick(order: readonly Backend[], start: number, tokens: number, now: number, waitedFor: Backend | undefined): BackendPick {
    const n = order.length;
    let best: BackendPick | undefined;
    let bestCooling: BackendPick | undefined;
    for (let i = 0; i < n; i++) {
      const backend = order[(start + i) % n]!;
      const state = this.stateOf(backend);
      const retryWait = backend === waitedFor ? 0 : state.health.retryAfterRemaining(now);
      const tpmWait = state.tpm ? state.tpm.waitMs(tokens, now) : 0;
      const waitMs = Math.max(retryWait, tpmWait);
      if (state.health.isCooling(now)) {
        if (!bestCooling || waitMs < bestCooling.waitMs) bestCooling = { backend, waitMs };
        continue;
      }
      if (waitMs === 0) return { backend, waitMs };
      if (!best || waitMs < best.waitMs) best = { backend, waitMs };
    }
    return (best ?? bestCooling)!;
  }

  /** Holds `backend` for one attempt (its concurrency slot already taken): counts it in flight until `end()`. */
  lease(backend: Backend, state: BackendState, call: AbortScope | undefined, streaming: boolean, tpmEntry: WindowEntry | undefined): Lease {
    state.inFlight++;
    const timeoutMs = this.attemptTimeoutOf(backend);
    const attempt = new AbortScope(call, timeoutMs, { idle: streaming });
    let ended = false;
    return {
      backend,
      state,
      attempt,
      timeoutMs,
      tpmEntry,
      end: () => {
        if (ended) return;
        ended = true;
        attempt.dispose();
        state.inFlight--;
        state.limiter?.release();
      },
    };
  }

  private candidates(model: string, kind: CallKind): Backend[] {
    const serving = this.backends.filter((b) => b.servesModel(model));
    const names = this.backends.map((b) => b.name);
    if (serving.length === 0) throw new NoBackendError(model, names);
    if (kind === 'complete') return serving;
    const able = serving.filter((b) => canServe(b, kind));
    if (able.length === 0) {
      const cannot = kind === 'stream' ? 'cannot stream' : kind === 'embed' ? 'cannot serve embeddings' : `do not speak the ${kind.forward} API`;
      throw new NoBackendError(model, names, `backends serving it (${serving.map((b) => b.name).join(', ')}) ${cannot}`);
    }
    return able;
  }

  private buildState(backend: Backend, limits: BackendLimits): BackendState {
    const { maxConcurrent, maxQueue = DEFAULT_MAX_QUEUE, tokensPerMinute, timeoutMs } = limits;
    const previous = this.states.get(backend);
    return {
      limiter:
        maxConcurrent === undefined
          ? undefined
          : new ConcurrencyLimiter({ max: maxConcurrent, maxQueue, name: backend.name, provider: backend.provider }),
      tpm: tokensPerMinute === undefined ? undefined : new TokenRateWindow({ tokensPerMinute }),
      timeoutMs,
      health: previous?.health ?? new BackendHealth(),
      inFlight: previous?.inFlight ?? 0,
    };
  }
}

/** Whether `backend` can serve a call of `kind` (it has the method, and for a pass-through, speaks the API). */
function canServe(backend: Backend, kind: Exclude<CallKind, 'complete'>): boolean {
  if (typeof kind === 'string') return typeof backend[kind] === 'function';
  const method = kind.stream ? backend.forwardStream : backend.forward;
  return typeof method === 'function' && Array.isArray(backend.apis) && backend.apis.includes(kind.forward);
}
