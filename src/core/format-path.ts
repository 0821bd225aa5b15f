/**
 * A field path for messages: `backends[1].provider`, `outline[0].title`, `headers["x-id"]`; `(root)` when
 * empty. Keys that are not identifiers are quoted, so a path never reads as something else.
 *
 * @example
 * ```ts
 * formatPath(['budgets', 'thresholds', 1, 'percent']); // 'budgets.thresholds[1].percent'
 * ```
 */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'symbol') out += `[${key.toString()}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}
