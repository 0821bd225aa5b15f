/**
 * A connection string or URL with its password replaced by `***`, for messages and logs. Works on
 * strings `URL` cannot parse too (`postgres://u:p@h/db?x` with odd characters).
 *
 * @example
 * ```ts
 * redactUrl('postgres://app:s3cret@db:5432/usage'); // 'postgres://app:***@db:5432/usage'
 * ```
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/(:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
  }
}
