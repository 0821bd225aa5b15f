import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';
import type { KeyRing, Principal } from './key-ring.js';
import { checkClientId } from './thread-scope.js';

/** Who is calling (the key's principal) and in which org's namespace the request runs. */
export interface Caller {
  principal: Principal;
  /** Org whose thread namespace and billing the request uses (`null`: none). */
  org: string | null;
}

/** The authenticated caller, and the org its `x-org-id` header asked for (admins may name any org). */
export interface ResolvedCaller {
  caller: Caller;
  headerOrg: string | undefined;
}

/**
 * Authenticates the request's key and settles its org: a non-admin key works in its own org (an
 * `x-org-id` naming another is refused, 403); an admin key works in the org `x-org-id` names, else its own.
 */
export function resolveCaller(keys: KeyRing, req: IncomingMessage, apiKeyHeader = false): ResolvedCaller {
  const principal = keys.authenticate(authorizationOf(req, apiKeyHeader));
  const raw = req.headers['x-org-id'];
  const headerOrg = typeof raw === 'string' ? checkClientId('x-org-id', raw) : undefined;
  if (!principal.admin) {
    if (headerOrg !== undefined && headerOrg !== principal.org) {
      throw new HttpError(
        403,
        'permission_error',
        'org_mismatch',
        `This key belongs to org ${JSON.stringify(principal.org)}, not ${JSON.stringify(headerOrg)}`,
        'x-org-id',
      );
    }
    return { caller: { principal, org: principal.org }, headerOrg };
  }
  return { caller: { principal, org: headerOrg ?? principal.org }, headerOrg };
}

/** Refuses (403) a caller without an admin key; `what` names the action, e.g. "Reading /metrics". */
export function requireAdmin(caller: Caller, what: string): void {
  if (!caller.principal.admin) throw new HttpError(403, 'permission_error', 'admin_required', `${what} needs an admin key`);
}

/**
 * The request's credentials as an `Authorization` value. On Anthropic's routes (`apiKeyHeader`) the key may
 * also come as `x-api-key`, as Anthropic's SDK and Claude Code send it (`Authorization` wins when both are sent).
 */
function authorizationOf(req: IncomingMessage, apiKeyHeader: boolean): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined || !apiKeyHeader) return authorization;
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key !== '' ? `Bearer ${key}` : undefined;
}
