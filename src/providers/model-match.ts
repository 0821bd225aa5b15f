import { ValidationError } from '../core/errors.js';

/**
 * Builds a `servesModel` predicate from a model list: exact names, prefixes ending in `*`
 * (`'gpt-4o*'`), or `'*'` for every model. Validates the list up front.
 *
 * @example
 * ```ts
 * const serves = createModelMatcher('options.models', ['gpt-4o*', 'o3']);
 * serves('gpt-4o-mini'); // true
 * serves('o3-mini');     // false
 * ```
 */
export function createModelMatcher(field: string, models: unknown): (model: string) => boolean {
  const list = typeof models === 'string' ? [models] : models;
  if (!Array.isArray(list)) {
    throw new ValidationError(field, models, 'must be a model name, a prefix ending in "*", or an array of them');
  }
  if (list.length === 0) throw new ValidationError(field, models, 'must list at least one model (use "*" for all)');
  const exact = new Set<string>();
  const prefixes: string[] = [];
  let all = false;
  list.forEach((entry: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof entry !== 'string' || entry.trim() === '') throw new ValidationError(at, entry, 'must be a non-empty string');
    const star = entry.indexOf('*');
    if (star !== -1 && star !== entry.length - 1) {
      throw new ValidationError(at, entry, '"*" is only allowed at the end of a model pattern');
    }
    if (entry === '*') all = true;
    else if (star !== -1) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  });
  if (all) return () => true;
  return (model: string) => exact.has(model) || prefixes.some((p) => model.startsWith(p));
}

/**
 * The model patterns as a list (a single pattern becomes a one-entry list). Call after
 * {@link createModelMatcher} has validated them.
 */
export function modelList(models: string | readonly string[]): readonly string[] {
  return Object.freeze(typeof models === 'string' ? [models] : [...models]);
}
