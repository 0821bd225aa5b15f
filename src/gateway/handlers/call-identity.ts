import type { IncomingMessage } from 'node:http';
import type { Metadata } from '../../core/types.js';
import type { Caller } from '../caller.js';
import { badRequest } from '../http-error.js';
import { checkClientId, scopedThreadId } from '../thread-scope.js';

const PRINTABLE = /^[\x20-\x7e]{1,256}$/;

/** Who a call is for: its (org-scoped) thread, agent and metadata (org, user, key name). */
export interface CallIdentity {
  threadId?: string;
  agentId?: string;
  metadata: Metadata;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function checkPrintable(param: string, value: string): string {
  if (!PRINTABLE.test(value)) {
    throw badRequest(param, `${param}: must be 1-256 printable ASCII characters (got ${JSON.stringify(value.slice(0, 40))})`, 'invalid_id');
  }
  return value;
}

/**
 * The tokenwarden headers of a call (`x-thread-id`, `x-agent-id`, `x-user-id`; the org comes from the
 * caller's scope, the user from the header, else the body's `user`), checked: 400s name the header.
 */
export function callIdentity(req: IncomingMessage, caller: Caller, requireThread: boolean, bodyUser: string | undefined): CallIdentity {
  const thread = headerValue(req, 'x-thread-id');
  let threadId: string | undefined;
  if (thread !== undefined) threadId = scopedThreadId(caller.org, checkClientId('x-thread-id', thread));
  else if (requireThread) {
    throw badRequest('x-thread-id', 'x-thread-id: header is required by this gateway (budgets.require_thread)', 'missing_thread_id');
  }
  const agent = headerValue(req, 'x-agent-id');
  const userHeader = headerValue(req, 'x-user-id');
  const user = userHeader !== undefined ? checkPrintable('x-user-id', userHeader) : bodyUser;
  const metadata: Metadata = {};
  if (caller.org !== null) metadata.org_id = caller.org;
  if (user !== undefined) metadata.user_id = user;
  if (caller.principal.keyName !== null) metadata.key_name = caller.principal.keyName;
  const out: CallIdentity = { metadata };
  if (threadId !== undefined) out.threadId = threadId;
  if (agent !== undefined) out.agentId = checkPrintable('x-agent-id', agent);
  return out;
}
