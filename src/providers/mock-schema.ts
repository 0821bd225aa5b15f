import { pickWord } from './mock-reply.js';

type Schema = Record<string, unknown>;

const MAX_DEPTH = 8;

const isObject = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A value that satisfies a JSON schema, for the mock's structured answers (tool arguments, `json_schema`
 * formats): every listed property is filled (strings with seeded words, numbers 1 within `minimum`/`maximum`,
 * booleans true, arrays `minItems` items, objects recursively); `const`, `enum`, `anyOf`/`oneOf` (the first
 * non-null branch), `allOf` (merged) and local `$ref`s (`#/$defs/…`, `#/definitions/…`) are honoured.
 * Formats `date-time`, `date`, `email`, `uri` and `uuid` get values of that format.
 *
 * @example
 * ```ts
 * mockSchemaValue({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }, Math.random); // { n: 1 }
 * ```
 */
export function mockSchemaValue(schema: unknown, rng: () => number): unknown {
  return valueOf(schema, schema, rng, 0);
}

function valueOf(schema: unknown, root: unknown, rng: () => number, depth: number): unknown {
  if (!isObject(schema)) return pickWord(rng);
  const s = resolve(schema, root);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const branch = firstBranch(s.anyOf) ?? firstBranch(s.oneOf);
  if (branch) return valueOf(branch, root, rng, depth + 1);
  if (Array.isArray(s.allOf)) return valueOf(mergeAll(s, root), root, rng, depth + 1);
  switch (typeOf(s)) {
    case 'object':
      return depth >= MAX_DEPTH ? {} : objectOf(s, root, rng, depth);
    case 'array': {
      const count = depth >= MAX_DEPTH ? 0 : Math.min(numberField(s.minItems) ?? 0, 16);
      return Array.from({ length: count }, () => valueOf(s.items, root, rng, depth + 1));
    }
    case 'integer':
      return numberOf(s, true);
    case 'number':
      return numberOf(s, false);
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return stringOf(s, rng);
  }
}

function resolve(schema: Schema, root: unknown): Schema {
  let s = schema;
  for (let hops = 0; typeof s.$ref === 'string' && hops < MAX_DEPTH; hops++) {
    const ref = s.$ref;
    if (!ref.startsWith('#')) break;
    let target: unknown = root;
    for (const key of ref.slice(1).split('/').filter(Boolean)) {
      target = isObject(target) ? target[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    }
    if (!isObject(target)) break;
    s = target;
  }
  return s;
}

function firstBranch(branches: unknown): Schema | undefined {
  if (!Array.isArray(branches)) return undefined;
  const objects = branches.filter(isObject);
  return objects.find((b) => b.type !== 'null') ?? objects[0];
}

function mergeAll(s: Schema, root: unknown): Schema {
  const properties: Schema = {};
  const required: unknown[] = [];
  for (const part of [s, ...(s.allOf as unknown[]).filter(isObject)]) {
    const r = resolve(part, root);
    if (isObject(r.properties)) Object.assign(properties, r.properties);
    if (Array.isArray(r.required)) required.push(...(r.required as unknown[]));
  }
  return { type: 'object', properties, required };
}

function typeOf(s: Schema): string {
  const type = Array.isArray(s.type) ? (s.type as unknown[]).find((t) => t !== 'null') ?? s.type[0] : s.type;
  if (typeof type === 'string') return type;
  if (isObject(s.properties)) return 'object';
  if (s.items !== undefined) return 'array';
  return 'string';
}

function objectOf(s: Schema, root: unknown, rng: () => number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const properties = isObject(s.properties) ? s.properties : {};
  const required = Array.isArray(s.required) ? (s.required as unknown[]).filter((k): k is string => typeof k === 'string') : [];
  for (const key of new Set([...Object.keys(properties), ...required])) {
    out[key] = valueOf(properties[key] ?? { type: 'string' }, root, rng, depth + 1);
  }
  return out;
}

function numberField(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function numberOf(s: Schema, integer: boolean): number {
  let low = numberField(s.minimum) ?? -Infinity;
  const exclusiveLow = numberField(s.exclusiveMinimum);
  if (exclusiveLow !== undefined) low = Math.max(low, integer ? Math.floor(exclusiveLow) + 1 : exclusiveLow + 1);
  let high = numberField(s.maximum) ?? Infinity;
  const exclusiveHigh = numberField(s.exclusiveMaximum);
  if (exclusiveHigh !== undefined) high = Math.min(high, integer ? Math.ceil(exclusiveHigh) - 1 : exclusiveHigh - 0.5);
  let value = Math.min(Math.max(1, low), high);
  if (integer) value = Math.ceil(value) <= high ? Math.ceil(value) : Math.floor(value);
  return Number.isFinite(value) ? value : 1;
}

function stringOf(s: Schema, rng: () => number): string {
  switch (s.format) {
    case 'date-time':
      return '2025-01-01T00:00:00Z';
    case 'date':
      return '2025-01-01';
    case 'email':
      return 'mock@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/mock';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
  }
  const min = numberField(s.minLength) ?? 0;
  const max = numberField(s.maxLength) ?? Infinity;
  let text = `${pickWord(rng)} ${pickWord(rng)}`;
  while (text.length < min) text += ` ${pickWord(rng)}`;
  return text.slice(0, max);
}
