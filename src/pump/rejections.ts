import { formatPath } from '../core/format-path.js';
import { MessageRejectedError } from './errors.js';
import type { ThreadEnding } from './thread-state.js';

/** A thread ending `rejected`: the pump refused to deliver a message. */
export function rejected(agent: string, from: string, reason: MessageRejectedError['reason'], message: string): ThreadEnding {
  return { status: 'rejected', error: new MessageRejectedError({ agent, from, reason, message }) };
}

/** A handler returned something other than `{ to, payload }`, `{ respond }` or nothing. */
export function invalidResult(agent: string, value: unknown, extraKeys?: string[]): ThreadEnding {
  const detail = extraKeys?.length
    ? `unexpected key${extraKeys.length > 1 ? 's' : ''} ${extraKeys.map(quote).join(', ')} (the pump sets the sender)`
    : `got ${Array.isArray(value) ? 'an array' : typeof value}`;
  return rejected(
    agent,
    agent,
    'invalid_result',
    `Agent ${quote(agent)} returned an invalid result: expected { to, payload }, { respond } or nothing; ${detail}`,
  );
}

/** A payload failed the receiving agent's schema: names the first failing field and counts the rest. */
export function schemaRejection(
  agent: string,
  from: string,
  kind: 'request' | 'response',
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): MessageRejectedError {
  const first = issues[0];
  const path = first ? formatPath(first.path) : '(root)';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  return new MessageRejectedError({
    agent,
    from,
    reason: 'schema',
    path,
    message:
      `Agent ${quote(agent)} rejected the ${kind} from ${quote(from)}: field ${quote(path)}: ` +
      `${first?.message ?? 'invalid payload'}${more}`,
  });
}

/** An agent name (or path) in double quotes, as messages show it. */
export function quote(name: string): string {
  return JSON.stringify(name);
}
