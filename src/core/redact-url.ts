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
    return redactUrlsIn(url);
  }
}

/**
 * Text (an error message, a log line) with the password of every URL in it replaced by `***`. Unlike
 * {@link redactUrl} it never parses the text as a URL: `Error: connect ...` would parse as one.
 *
 * @example
 * ```ts
 * redactUrlsIn('connect failed: postgres://app:s3cret@db/usage'); // 'connect failed: postgres://app:***@db/usage'
 * ```
 */
export function redactUrlsIn(text: string): string {
  return text.replace(/(:\/\/[^:@/]*:)[^@/]*@/g, '$1***@');
}
