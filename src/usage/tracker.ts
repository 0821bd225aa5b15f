import { TokenwardenError, ValidationError } from '../core/errors.js';
import { estimateCostNanos } from '../pricing/estimate.js';
import type { Metadata, TokenUsage } from '../core/types.js';
import { assertPositiveInteger, assertTokenCount } from '../core/validate.js';
import { newEventId } from './event-id.js';
import { assertEventMetadata, assertEventText } from './event-fields.js';
import type { OverallTotals, UsageEvent, UsageTotals } from './types.js';
import { errorMessage } from '../core/error-fields.js';

/** What {@link UsageTracker.record} takes. */
export interface RecordInput {
  threadId?: string | null;
  agentId?: string | null;
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  metadata?: Metadata;
  cachedPromptTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  /**
   * Tokens the provider reported beyond what was reserved for the call (billed anyway, counted here so
   * the excess is visible). Omit or 0 when the reservation held.
   */
  overspendTokens?: number;
  /** Epoch ms; default now. */
  timestamp?: number;
  /**
   * The model to price the call at when `model` (the one that answered, e.g. `/models/llama-70b-awq` or a
   * dated name) has no price: the model the caller asked for. A call is then billed at the requested
   * model's rates rather than at none, so a USD budget is never charged $0 for a priced model.
   */
  pricedAs?: string;
}

/** Options of {@link UsageTracker}. */
export interface UsageTrackerOptions {
  /** Receives errors thrown by ordinary subscribers (recording carries on). Default: console.error. */
  onError?: (error: unknown, event: UsageEvent) => void;
  /** Prices a call in integer nano-USD. Default: the global price table ({@link estimateCostNanos}). */
  estimateCostNanos?: (model: string, usage: Omit<TokenUsage, 'totalTokens'>) => number | undefined;
  /** Most distinct agents and models totalled separately; later ones are totalled under `(other)`. Default 10 000. */
  maxKeys?: number;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

type Subscriber = (event: UsageEvent) => void;

interface Accumulator {
  promptTokens: number;
  completionTokens: number;
  requestCount: number;
  costNanos: number;
}

/** Totals of agents and models beyond `maxKeys` go here. */
export const OTHER_KEY = '(other)';

/**
 * Meters completed LLM calls: every `record()` builds a {@link UsageEvent} (with a unique, time-sortable
 * id and a cost estimate), hands it to each subscriber in turn and adds it to running totals.
 *
 * Subscribers run synchronously before `record()` returns, so a durable store attached as a subscriber
 * has written the event by the time the caller moves on. A subscriber that throws never breaks recording:
 * its error goes to `onError`.
 *
 * @example
 * ```ts
 * const tracker = new UsageTracker();
 * const stop = tracker.subscribe((e) => console.log(e.model, e.totalTokens, e.estimatedCost));
 * tracker.record({ threadId: 't1', agentId: 'writer', model: 'gpt-4o', provider: 'openai',
 *                  promptTokens: 500, completionTokens: 200, latencyMs: 840 });
 * tracker.getAgentTotals('writer'); // { totalTokens: 700, requestCount: 1, totalCost: 0.00325, ... }
 * stop();
 * ```
 */
export class UsageTracker {
  private readonly subscribers = new Set<Subscriber>();
  /** Subscribers that must keep every event (durable stores): they run first and their errors fail `record()`. */
  private readonly required = new Set<Subscriber>();
  private readonly onError: (error: unknown, event: UsageEvent) => void;
  private readonly priceNanos: NonNullable<UsageTrackerOptions['estimateCostNanos']>;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly overall: Accumulator = blank();
  private latencySum = 0;
  private readonly byAgent = new Map<string, Accumulator>();
  private readonly byModel = new Map<string, Accumulator>();

  constructor(options: UsageTrackerOptions = {}) {
    const {
      onError = (err: unknown) => console.error('[tokenwarden] usage subscriber failed:', err),
      estimateCostNanos: price = estimateCostNanos,
      maxKeys = 10_000,
      now = Date.now,
    } = options;
    assertPositiveInteger('maxKeys', maxKeys);
    this.onError = onError;
    this.priceNanos = price;
    this.maxKeys = maxKeys;
    this.now = now;
  }

  /**
   * Records one completed call and returns its event. Throws a ValidationError on bad input, and a
   * `USAGE_NOT_PERSISTED` error when a required subscriber (a durable store) failed to keep the event:
   * then nothing was acknowledged, totals are unchanged and the other subscribers were not called.
   */
  record(input: RecordInput): UsageEvent {
    const event = this.buildEvent(input);
    for (const persist of this.required) {
      try {
        persist(event);
      } catch (err) {
        throw new TokenwardenError(
          'USAGE_NOT_PERSISTED',
          `Usage event ${event.id} (${event.model}, ${event.totalTokens} tokens) was not stored: ` +
            (errorMessage(err)),
          { cause: err },
        );
      }
    }
    add(this.overall, event);
    this.latencySum += event.latencyMs;
    if (event.agentId !== null) add(this.bucket(this.byAgent, event.agentId), event);
    add(this.bucket(this.byModel, event.model), event);
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch (err) {
        this.reportError(err, event);
      }
    }
    return event;
  }

  /**
   * Calls `callback` with every event recorded from now on. Returns the unsubscribe function.
   * With `{ required: true }` (how durable stores attach) the callback runs before any other subscriber
   * and an error it throws fails `record()` instead of going to `onError`.
   */
  subscribe(callback: Subscriber, options: { required?: boolean } = {}): () => void {
    if (typeof callback !== 'function') throw new ValidationError('callback', callback, 'must be a function');
    (options.required === true ? this.required : this.subscribers).add(callback);
    return () => this.unsubscribe(callback);
  }

  /** Stops calling `callback`. */
  unsubscribe(callback: Subscriber): void {
    this.subscribers.delete(callback);
    this.required.delete(callback);
  }

  /** Totals over every recorded call, with the mean latency. */
  getTotals(): OverallTotals {
    const count = this.overall.requestCount;
    return { ...toTotals(this.overall), avgLatencyMs: count === 0 ? 0 : this.latencySum / count };
  }

  /** Totals of one agent (zeros if it made no call). */
  getAgentTotals(agentId: string): UsageTotals {
    return toTotals(this.byAgent.get(agentId) ?? blank());
  }

  /** Totals of one model (zeros if it was never called). */
  getModelTotals(model: string): UsageTotals {
    return toTotals(this.byModel.get(model) ?? blank());
  }

  /** Totals of every agent, by agent id. */
  getAllAgentTotals(): Record<string, UsageTotals> {
    return mapTotals(this.byAgent);
  }

  /** Totals of every model, by model name. */
  getAllModelTotals(): Record<string, UsageTotals> {
    return mapTotals(this.byModel);
  }

  /**
   * Validates every field a store or a log will see (see `event-fields.ts`): a store must never refuse
   * an event the tracker accepted, since the event then shares a batch with other callers' events.
   */
  private buildEvent(input: RecordInput): UsageEvent {
    if (input === null || typeof input !== 'object') throw new ValidationError('record', input, 'must be an object');
    const { model, provider, promptTokens, completionTokens, latencyMs } = input;
    assertEventText('model', model);
    assertEventText('provider', provider);
    assertTokenCount('promptTokens', promptTokens);
    assertTokenCount('completionTokens', completionTokens);
    const totalTokens = promptTokens + completionTokens;
    assertTokenCount('totalTokens', totalTokens);
    assertFiniteAtMost('latencyMs', latencyMs, Number.MAX_SAFE_INTEGER);
    const threadId = optionalText('threadId', input.threadId);
    const agentId = optionalText('agentId', input.agentId);
    const metadata = input.metadata ?? {};
    assertEventMetadata('metadata', metadata);
    const usage: Omit<TokenUsage, 'totalTokens'> = { promptTokens, completionTokens };
    for (const key of ['cachedPromptTokens', 'cacheWriteTokens', 'reasoningTokens'] as const) {
      const v = input[key];
      if (v === undefined) continue;
      assertTokenCount(key, v);
      usage[key] = v;
    }
    const overspend = input.overspendTokens;
    if (overspend !== undefined) assertTokenCount('overspendTokens', overspend);
    const timestamp = input.timestamp ?? this.now();
    assertFiniteAtMost('timestamp', timestamp, MAX_TIMESTAMP);
    let costNanos = this.priceNanos(model, usage);
    if (costNanos === undefined && input.pricedAs !== undefined && input.pricedAs !== model) {
      assertEventText('pricedAs', input.pricedAs);
      costNanos = this.priceNanos(input.pricedAs, usage);
    }
    if (costNanos !== undefined && (!Number.isSafeInteger(costNanos) || costNanos < 0)) {
      throw new ValidationError('costNanos', costNanos, `the cost of this usage of ${model} must be a whole number of nano-USD from 0 to 2^53 - 1`);
    }
    const event: UsageEvent = {
      id: newEventId(timestamp),
      threadId,
      agentId,
      model,
      provider,
      ...usage,
      totalTokens,
      timestamp,
      latencyMs,
      estimatedCost: costNanos === undefined ? undefined : costNanos / 1e9,
      costNanos,
      metadata,
    };
    if (overspend !== undefined && overspend > 0) event.overspendTokens = overspend;
    return event;
  }

  private bucket(map: Map<string, Accumulator>, key: string): Accumulator {
    let acc = map.get(key);
    if (acc) return acc;
    if (map.size >= this.maxKeys) key = OTHER_KEY;
    acc = map.get(key);
    if (!acc) map.set(key, (acc = blank()));
    return acc;
  }

  private reportError(err: unknown, event: UsageEvent): void {
    try {
      this.onError(err, event);
    } catch {
      // The error hook itself failed; recording must still complete.
    }
  }
}

/** The last instant a JavaScript Date can hold (epoch ms); stores keep timestamps as 64-bit integers. */
const MAX_TIMESTAMP = 8.64e15;

function optionalText(field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  assertEventText(field, value);
  return value;
}

function assertFiniteAtMost(field: string, value: unknown, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new ValidationError(field, value, `must be a finite number from 0 to ${max}`);
  }
}

function blank(): Accumulator {
  return { promptTokens: 0, completionTokens: 0, requestCount: 0, costNanos: 0 };
}

function add(acc: Accumulator, event: UsageEvent): void {
  acc.promptTokens += event.promptTokens;
  acc.completionTokens += event.completionTokens;
  acc.requestCount += 1;
  if (event.costNanos !== undefined) acc.costNanos += event.costNanos;
}

function toTotals(acc: Accumulator): UsageTotals {
  return {
    promptTokens: acc.promptTokens,
    completionTokens: acc.completionTokens,
    totalTokens: acc.promptTokens + acc.completionTokens,
    requestCount: acc.requestCount,
    totalCost: acc.costNanos / 1e9,
    totalCostNanos: acc.costNanos,
  };
}

function mapTotals(map: Map<string, Accumulator>): Record<string, UsageTotals> {
  const out: Record<string, UsageTotals> = {};
  for (const [key, acc] of map) out[key] = toTotals(acc);
  return out;
}

let globalTracker: UsageTracker | undefined;

/** The process-wide tracker (created on first use). */
export function getUsageTracker(): UsageTracker {
  return (globalTracker ??= new UsageTracker());
}

/** Drops the process-wide tracker; the next `getUsageTracker()` creates a fresh one. */
export function resetUsageTracker(): void {
  globalTracker = undefined;
}
