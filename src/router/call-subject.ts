import type { CallSubject } from '../budget/policy-types.js';
import type { CompletionRequest } from '../core/types.js';
import { eventOrgId, eventUserId } from '../usage/types.js';

/** A metadata value as an entity: strings and numbers as text; absent, null, `''` and booleans are no entity. */
function entity(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The attributes budget policies match and count a call by, read from its request as its usage event will
 * carry them (so a policy's spend can be restored from the usage store): the requested model, the thread,
 * the agent, the user (`metadata.user_id`, else `metadata.userId`), the org (`metadata.org_id`, else
 * `metadata.orgId`) and the API key's name (`metadata.key_name`, set by the gateway). An empty value is no
 * entity: a policy of that scope does not apply to the call.
 *
 * @example
 * ```ts
 * callSubject({ model: 'gpt-4o', messages, threadId: 't1', metadata: { user_id: 'ann', key_name: 'ci' } });
 * // { model: 'gpt-4o', thread: 't1', agent: undefined, user: 'ann', org: undefined, key: 'ci' }
 * ```
 */
export function callSubject(req: CompletionRequest): CallSubject {
  const event = { metadata: req.metadata ?? {} };
  return {
    model: req.model,
    thread: req.threadId === '' ? undefined : req.threadId,
    agent: entity(req.agentId),
    user: entity(eventUserId(event)),
    org: entity(eventOrgId(event)),
    key: entity(event.metadata.key_name),
  };
}
