/**
 * The one 400 of a translated request: every field the target API cannot carry, named together, so the
 * client fixes its body in one round trip. Translation never drops a field silently (DESIGN.md, "The
 * gateway is transparent").
 */
import { isPlainObject } from '../../core/objects.js';
import { badRequest } from '../http-error.js';

/** Fields listed in the message before it says "and N more" (a body can hold thousands of parts). */
const MAX_LISTED = 20;

/** The `code` of the 400 answered for fields a backend cannot honour. */
export const UNSUPPORTED_CODE = 'unsupported_parameter';

/**
 * How a backend is named in translation errors: `"claude" (anthropic)`.
 *
 * @example
 * ```ts
 * backendLabel({ name: 'claude', provider: 'anthropic' }); // '"claude" (anthropic)'
 * ```
 */
export function backendLabel(backend: { name: string; provider: string }): string {
  return `${JSON.stringify(backend.name)} (${backend.provider})`;
}

/**
 * Collects the fields of a request that cannot be translated, then throws them as one 400
 * (`code: 'unsupported_parameter'`, `param`: the first one).
 */
export class Untranslatable {
  private readonly fields: { param: string; label: string }[] = [];

  /** Notes one field; `detail` is shown after its path (`tools[2] (type "web_search_20250305")`). */
  add(param: string, detail?: string): void {
    this.fields.push({ param, label: detail ? `${param} (${detail})` : param });
  }

  /**
   * Notes every key of `obj` that is not in `known` and holds a value (null counts as absent), unless
   * `inert` says that value changes nothing (a default, such as `logprobs: false`).
   */
  addUnknownKeys(
    obj: Record<string, unknown>,
    prefix: string,
    known: ReadonlySet<string>,
    inert: Readonly<Record<string, (value: unknown) => boolean>> = {},
  ): void {
    for (const [key, value] of Object.entries(obj)) {
      if (known.has(key) || value === undefined || value === null) continue;
      if (Object.hasOwn(inert, key) && inert[key]!(value)) continue;
      this.add(prefix ? `${prefix}.${key}` : key);
    }
  }

  get size(): number {
    return this.fields.length;
  }

  /**
   * Throws the 400 naming every collected field; returns when there is none.
   *
   * @param backend  how the serving backend is named ({@link backendLabel})
   * @param nativeKind  the kind of backend that would take these fields (`an OpenAI-compatible`)
   */
  throwIfAny(backend: string, nativeKind: string): void {
    const n = this.fields.length;
    if (n === 0) return;
    const listed = this.fields.slice(0, MAX_LISTED).map((f) => f.label);
    const names = n > MAX_LISTED ? `${listed.join(', ')} and ${n - MAX_LISTED} more` : listed.join(', ');
    const [these, them] = n === 1 ? ['this field', 'it'] : ['these fields', 'them'];
    const message =
      `${names}: the model is served by backend ${backend}, which cannot honour ${these}; ` +
      `send ${them} to a model on ${nativeKind} backend, or leave ${them} out`;
    throw badRequest(this.fields[0]!.param, message, UNSUPPORTED_CODE);
  }
}

/** `value` is an empty object or array: sent, but asking for nothing. */
export function isEmpty(value: unknown): boolean {
  return (Array.isArray(value) && value.length === 0) || (isPlainObject(value) && Object.keys(value).length === 0);
}

/** `type "x"`, for a list entry naming an object by its type. */
export function typeDetail(value: unknown): string {
  const type = isPlainObject(value) ? value.type : undefined;
  return typeof type === 'string' ? `type ${JSON.stringify(type)}` : 'no type';
}
