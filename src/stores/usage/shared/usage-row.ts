import { ValidationError } from '../../../core/errors.js';
import type { Metadata } from '../../../core/types.js';
import { LONE_SURROGATE } from '../../../usage/event-fields.js';
import { eventOrgId, eventUserId, type UsageEvent } from '../../../usage/types.js';

/** Column names of the usage table, in insert order. Identical in the SQLite and PostgreSQL schemas. */
export const USAGE_COLUMNS = [
  'id',
  'ts',
  'org_id',
  'user_id',
  'thread_id',
  'agent_id',
  'model',
  'provider',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_prompt_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'latency_ms',
  'cost_nanos',
  'metadata',
  'overspend_tokens',
] as const;

/**
 * The select list for reading events: {@link USAGE_COLUMNS}, with `NULL AS overspend_tokens` when a
 * read-only store opened a database from before that column (schema v3 in SQLite, v2 in PostgreSQL).
 */
export function selectColumns(hasOverspend: boolean): string {
  return USAGE_COLUMNS.map((c) => (c === 'overspend_tokens' && !hasOverspend ? 'NULL AS overspend_tokens' : c)).join(', ');
}

/** One event as a row of column values in {@link USAGE_COLUMNS} order (metadata as JSON text). */
export type UsageRowValues = [
  id: string,
  ts: number,
  orgId: string | null,
  userId: string | null,
  threadId: string | null,
  agentId: string | null,
  model: string,
  provider: string,
  promptTokens: number,
  completionTokens: number,
  totalTokens: number,
  cachedPromptTokens: number | null,
  cacheWriteTokens: number | null,
  reasoningTokens: number | null,
  latencyMs: number,
  costNanos: number | null,
  metadata: string,
  overspendTokens: number | null,
];

/** Longest event id accepted (ULIDs are 26 characters; callers may bring their own ids). */
const MAX_ID_LENGTH = 256;

/**
 * Checks events before they are stored and returns them as an array. Throws a {@link ValidationError}
 * naming the event and field, e.g. `events[2].timestamp`.
 *
 * @example
 * ```ts
 * const events = assertUsageEvents(input); // UsageEvent | UsageEvent[] -> UsageEvent[]
 * ```
 */
export function assertUsageEvents(input: unknown): UsageEvent[] {
  const list: unknown[] = Array.isArray(input) ? input : [input];
  const single = !Array.isArray(input);
  list.forEach((e, i) => assertUsageEvent(single ? 'event' : `events[${i}]`, e));
  return list as UsageEvent[];
}

function assertUsageEvent(field: string, e: unknown): asserts e is UsageEvent {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new ValidationError(field, e, 'must be a usage event object');
  const ev = e as Record<string, unknown>;
  if (typeof ev.id !== 'string' || ev.id.length === 0 || ev.id.length > MAX_ID_LENGTH) {
    throw new ValidationError(`${field}.id`, ev.id, `must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  for (const key of ['model', 'provider'] as const) {
    if (typeof ev[key] !== 'string' || (ev[key] as string).length === 0) {
      throw new ValidationError(`${field}.${key}`, ev[key], 'must be a non-empty string');
    }
  }
  for (const key of ['threadId', 'agentId'] as const) {
    const v = ev[key];
    if (v !== null && v !== undefined && typeof v !== 'string') throw new ValidationError(`${field}.${key}`, v, 'must be a string or null');
  }
  // PostgreSQL text and jsonb cannot hold U+0000 and jsonb refuses a lone surrogate (text silently turns
  // it into U+FFFD); refuse both up front so every backend stores the same events, unchanged.
  for (const key of ['id', 'model', 'provider', 'threadId', 'agentId'] as const) {
    if (typeof ev[key] === 'string') assertStorable(`${field}.${key}`, ev[key] as string);
  }
  for (const key of ['promptTokens', 'completionTokens', 'totalTokens'] as const) assertCount(`${field}.${key}`, ev[key]);
  for (const key of ['cachedPromptTokens', 'cacheWriteTokens', 'reasoningTokens', 'overspendTokens'] as const) {
    if (ev[key] !== undefined && ev[key] !== null) assertCount(`${field}.${key}`, ev[key]);
  }
  const ts = ev.timestamp;
  if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0 || ts > 8.64e15) {
    throw new ValidationError(`${field}.timestamp`, ts, 'must be epoch milliseconds (a finite number >= 0)');
  }
  const latency = ev.latencyMs;
  if (typeof latency !== 'number' || !Number.isFinite(latency) || latency < 0) {
    throw new ValidationError(`${field}.latencyMs`, latency, 'must be a finite number >= 0');
  }
  const cost = ev.costNanos;
  if (cost !== undefined && cost !== null && (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0)) {
    throw new ValidationError(`${field}.costNanos`, cost, 'must be a non-negative safe integer (nano-USD) or undefined');
  }
  const meta = ev.metadata;
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) {
    throw new ValidationError(`${field}.metadata`, meta, 'must be a plain object');
  }
  if (meta !== undefined) {
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      assertStorable(`${field}.metadata key`, k);
      if (typeof v === 'string') assertStorable(`${field}.metadata.${k}`, v);
      else if (typeof v === 'number' && !Number.isFinite(v)) throw new ValidationError(`${field}.metadata.${k}`, v, 'must be a finite number');
      else if (v !== null && typeof v !== 'number' && typeof v !== 'boolean') {
        throw new ValidationError(`${field}.metadata.${k}`, v, 'must be a string, a number, a boolean or null');
      }
    }
  }
}

function assertStorable(field: string, v: string): void {
  if (v.includes('\u0000')) throw new ValidationError(field, v, 'must not contain the NUL character (U+0000)');
  if (LONE_SURROGATE.test(v)) throw new ValidationError(field, v, 'must be well-formed Unicode (found a lone surrogate)');
}

function assertCount(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ValidationError(field, v, 'must be a whole number >= 0');
  }
}

/**
 * An event as column values. Timestamps are stored at millisecond precision (fractions are dropped);
 * org and user are taken from the metadata (see `eventOrgId` / `eventUserId`).
 */
export function eventToRow(e: UsageEvent): UsageRowValues {
  const metadata: Metadata = e.metadata ?? {};
  return [
    e.id,
    Math.floor(e.timestamp),
    eventOrgId({ metadata }),
    eventUserId({ metadata }),
    e.threadId ?? null,
    e.agentId ?? null,
    e.model,
    e.provider,
    e.promptTokens,
    e.completionTokens,
    e.totalTokens,
    e.cachedPromptTokens ?? null,
    e.cacheWriteTokens ?? null,
    e.reasoningTokens ?? null,
    e.latencyMs,
    e.costNanos ?? null,
    JSON.stringify(metadata),
    e.overspendTokens ?? null,
  ];
}

/**
 * Rebuilds an event from a row read back from either backend. Accepts the driver's representation:
 * numbers, bigints or numeric strings for integers (PostgreSQL BIGINT) and a JSON string or an object
 * for metadata (PostgreSQL JSONB).
 */
export function rowToEvent(row: Record<string, unknown>): UsageEvent {
  const costNanos = optionalNumber(row.cost_nanos);
  const event: UsageEvent = {
    id: String(row.id),
    threadId: optionalString(row.thread_id),
    agentId: optionalString(row.agent_id),
    model: String(row.model),
    provider: String(row.provider),
    promptTokens: toNumber(row.prompt_tokens),
    completionTokens: toNumber(row.completion_tokens),
    totalTokens: toNumber(row.total_tokens),
    timestamp: toNumber(row.ts),
    latencyMs: toNumber(row.latency_ms),
    estimatedCost: costNanos === undefined ? undefined : costNanos / 1e9,
    costNanos,
    metadata: parseMetadata(row.metadata),
  };
  const cached = optionalNumber(row.cached_prompt_tokens);
  if (cached !== undefined) event.cachedPromptTokens = cached;
  const write = optionalNumber(row.cache_write_tokens);
  if (write !== undefined) event.cacheWriteTokens = write;
  const reasoning = optionalNumber(row.reasoning_tokens);
  if (reasoning !== undefined) event.reasoningTokens = reasoning;
  const overspend = optionalNumber(row.overspend_tokens);
  if (overspend !== undefined && overspend > 0) event.overspendTokens = overspend;
  return event;
}

/** Number from a driver value (number, bigint or numeric string). */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  return 0;
}

function optionalNumber(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : toNumber(v);
}

function optionalString(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function parseMetadata(v: unknown): Metadata {
  if (typeof v === 'string') return JSON.parse(v) as Metadata;
  if (v !== null && typeof v === 'object') return v as Metadata;
  return {};
}
