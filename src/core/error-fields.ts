/**
 * The `code` of a thrown value (a Node.js `ErrnoException`, a driver error), when it has a string one.
 *
 * @example
 * ```ts
 * errorCode(Object.assign(new Error('x'), { code: 'ENOSPC' })); // 'ENOSPC'
 * ```
 */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The message of a thrown value: an `Error`'s message, anything else as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
