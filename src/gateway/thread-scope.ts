import { badRequest } from './http-error.js';

/** Thread, org, agent and user ids accepted from clients: letters, digits and `._:@-`, 1–128 characters. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * Validates an id sent by a client (header, path segment or query parameter); a 400 naming `param`
 * otherwise. Ids never contain `/`, which is what keeps org namespacing unambiguous.
 */
export function checkClientId(param: string, value: string): string {
  if (!CLIENT_ID_PATTERN.test(value)) {
    const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
    throw badRequest(param, `${param}: must be 1-128 characters of letters, digits and . _ : @ - (got ${shown})`, 'invalid_id');
  }
  return value;
}

/**
 * The ledger key of a client's thread: `org/thread` when the caller belongs to an org, else the bare
 * thread id. Two orgs using the same thread id therefore never share a budget.
 *
 * @example
 * ```ts
 * scopedThreadId('acme', 't1'); // 'acme/t1'
 * scopedThreadId(null, 't1');   // 't1'
 * ```
 */
export function scopedThreadId(org: string | null, threadId: string): string {
  return org === null ? threadId : `${org}/${threadId}`;
}

/** The client's thread id and org of a ledger key built by {@link scopedThreadId}. */
export function splitScopedThreadId(scoped: string): { org: string | null; threadId: string } {
  const slash = scoped.indexOf('/');
  return slash === -1 ? { org: null, threadId: scoped } : { org: scoped.slice(0, slash), threadId: scoped.slice(slash + 1) };
}
