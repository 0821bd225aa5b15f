import { ValidationError } from '../../../core/errors.js';
import type { UsageFilter, UsageQuery } from '../../../usage/usage-store.js';

/** A filter after validation: time bounds as epoch ms, string filters as given. */
export interface NormalizedFilter {
  since: number | undefined;
  until: number | undefined;
  orgId: string | undefined;
  userId: string | undefined;
  agentId: string | undefined;
  model: string | undefined;
  provider: string | undefined;
  threadId: string | undefined;
  keyName: string | undefined;
  modelPrefix: string | undefined;
}

/** A page request after validation. `after` is the decoded cursor: the last `[timestamp, id]` seen. */
export interface NormalizedQuery extends NormalizedFilter {
  limit: number;
  after: [number, string] | undefined;
}

/** Default page size of `query()`. */
export const DEFAULT_QUERY_LIMIT = 100;
/** Largest page size of `query()`. */
export const MAX_QUERY_LIMIT = 1000;

const STRING_KEYS = ['orgId', 'userId', 'agentId', 'model', 'provider', 'threadId', 'keyName', 'modelPrefix'] as const;
const FILTER_KEYS = new Set<string>(['since', 'until', ...STRING_KEYS]);
const QUERY_KEYS = new Set<string>([...FILTER_KEYS, 'limit', 'cursor']);
const CURSOR_PREFIX = 'c1.';

/**
 * Validates a filter. Unknown keys are rejected (a misspelt `org` must not silently return every
 * org's events); each error names the field and the bad value.
 *
 * @example
 * ```ts
 * normalizeFilter({ since: new Date('2025-01-01'), orgId: 'acme' }); // { since: 1735689600000, orgId: 'acme', ... }
 * ```
 */
export function normalizeFilter(filter: UsageFilter | undefined): NormalizedFilter {
  return normalize(filter, FILTER_KEYS, 'filter');
}

/** Validates a page request: the filter plus `limit` (1-1000, default 100) and `cursor`. */
export function normalizeQuery(query: UsageQuery | undefined): NormalizedQuery {
  const base = normalize(query, QUERY_KEYS, 'query');
  const limit = query?.limit ?? DEFAULT_QUERY_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new ValidationError('limit', limit, `must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
  }
  const cursor = query?.cursor;
  return { ...base, limit, after: cursor === undefined ? undefined : decodeCursor(cursor) };
}

function normalize(input: UsageFilter | undefined, allowed: Set<string>, what: string): NormalizedFilter {
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new ValidationError(what, input, 'must be an object');
  }
  const f = (input ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(f)) {
    if (!allowed.has(key) && f[key] !== undefined) {
      throw new ValidationError(key, f[key], `is not a known ${what} option (known: ${[...allowed].join(', ')})`);
    }
  }
  const out: NormalizedFilter = {
    since: toEpochMs('since', f.since),
    until: toEpochMs('until', f.until),
    orgId: undefined,
    userId: undefined,
    agentId: undefined,
    model: undefined,
    provider: undefined,
    threadId: undefined,
    keyName: undefined,
    modelPrefix: undefined,
  };
  if (out.since !== undefined && out.until !== undefined && out.until < out.since) {
    throw new ValidationError('until', f.until, `must not be before since (${new Date(out.since).toISOString()})`);
  }
  for (const key of STRING_KEYS) {
    const v = f[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length === 0) throw new ValidationError(key, v, 'must be a non-empty string');
    out[key] = v;
  }
  return out;
}

function toEpochMs(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Date) {
    const t = v.getTime();
    if (Number.isNaN(t)) throw new ValidationError(field, v, 'must be a valid Date (got Invalid Date)');
    return t;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new ValidationError(field, v, 'must be epoch milliseconds (a finite number) or a Date');
}

/** The opaque cursor for "events after this one" (ordering is by timestamp, then id). */
export function encodeCursor(timestamp: number, id: string): string {
  return CURSOR_PREFIX + Buffer.from(JSON.stringify([timestamp, id]), 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; anything else is a ValidationError on `cursor`. */
export function decodeCursor(cursor: unknown): [number, string] {
  const bad = (): never => {
    throw new ValidationError('cursor', cursor, 'is not a cursor returned by query() (pass nextCursor back unchanged)');
  };
  if (typeof cursor !== 'string' || !cursor.startsWith(CURSOR_PREFIX)) return bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return bad();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'number' ||
    !Number.isFinite(parsed[0]) ||
    typeof parsed[1] !== 'string'
  ) {
    return bad();
  }
  return [parsed[0], parsed[1]];
}

/** A backend's SQL for the text of one top-level key of an event's `metadata` (a JSON column). */
export type MetadataText = (key: string) => string;

/** SQLite: `metadata` is JSON text; numbers are compared as their text, like PostgreSQL's `->>`. */
export const sqliteMetadataText: MetadataText = (key) => `CAST(json_extract(metadata, '$.${key}') AS TEXT)`;
/** PostgreSQL: `metadata` is JSONB. */
export const postgresMetadataText: MetadataText = (key) => `(metadata->>'${key}')`;

/** `prefix` as a LIKE pattern matching it literally (escape character `\`), then anything. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * `column` starts with `prefix`: a LIKE (which PostgreSQL can serve from an index) and, because SQLite's
 * LIKE ignores ASCII case, the exact comparison of the first characters (code points in both databases).
 */
export function prefixCondition(column: string, prefix: string, param: (value: unknown) => string): string {
  return `${column} LIKE ${param(likePrefix(prefix))} ESCAPE '\\' AND substr(${column}, 1, ${param([...prefix].length)}) = ${param(prefix)}`;
}

/**
 * SQL conditions for a filter, shared by the SQLite and PostgreSQL stores (their columns have the
 * same names; `metadataText` reads a metadata key in the backend's JSON dialect). `param` registers a
 * value and returns its placeholder (`?` or `$n`).
 */
export function filterConditions(f: NormalizedFilter, param: (value: unknown) => string, metadataText: MetadataText): string[] {
  const where: string[] = [];
  if (f.since !== undefined) where.push(`ts >= ${param(Math.ceil(f.since))}`);
  if (f.until !== undefined) where.push(`ts < ${param(Math.ceil(f.until))}`);
  const columns: Array<[keyof NormalizedFilter, string]> = [
    ['orgId', 'org_id'],
    ['userId', 'user_id'],
    ['agentId', 'agent_id'],
    ['model', 'model'],
    ['provider', 'provider'],
    ['threadId', 'thread_id'],
  ];
  for (const [key, column] of columns) {
    const v = f[key];
    if (v !== undefined) where.push(`${column} = ${param(v)}`);
  }
  if (f.keyName !== undefined) where.push(`${metadataText('key_name')} = ${param(f.keyName)}`);
  if (f.modelPrefix !== undefined) where.push(prefixCondition('model', f.modelPrefix, param));
  return where;
}

/** `WHERE a AND b`, or nothing. */
export function whereClause(where: string[]): string {
  return where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
}
