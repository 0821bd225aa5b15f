import type { RegisteredAgent } from './agent-registry.js';
import { invalidResult, quote, rejected } from './rejections.js';
import type { ThreadEnding, ThreadState } from './thread-state.js';

/** The next delivery a handler's result asks for; `to` is undefined when no caller is left to answer. */
export interface NextDelivery {
  to: string | undefined;
  payload: unknown;
  kind: 'request' | 'response';
}

/** What the routing checks need from the pump. */
export interface RoutingLimits {
  readonly maxDepth: number;
  isAgent(name: string): boolean;
}

/**
 * Interprets a handler's (non-empty) result: `{ respond }` pops the caller, `{ to, payload }` pushes the
 * sender after checking the target is a registered, declared peer within `maxDepth`. Anything else, or
 * a result with keys the pump sets itself, ends the thread `rejected`.
 */
export function routeResult(t: ThreadState, agent: RegisteredAgent, value: unknown, limits: RoutingLimits): ThreadEnding | NextDelivery {
  const name = agent.name;
  if (typeof value !== 'object' || value === null) return invalidResult(name, value);
  if ('respond' in value) {
    const extra = extraKeys(value, 'respond', 'respond');
    if (extra) return invalidResult(name, value, extra);
    const caller = t.stack.pop();
    return { to: caller, payload: (value as { respond: unknown }).respond, kind: 'response' };
  }
  if (!('to' in value)) return invalidResult(name, value);
  const extra = extraKeys(value, 'to', 'payload');
  if (extra) return invalidResult(name, value, extra);
  const target = (value as { to: unknown }).to;
  const refusal = refuseTarget(t, agent, target, limits);
  if (refusal) return refusal;
  t.stack.push(name);
  return { to: target as string, payload: (value as { payload?: unknown }).payload, kind: 'request' };
}

/** Why `agent` may not send to `target`, or undefined when it may. */
function refuseTarget(t: ThreadState, agent: RegisteredAgent, target: unknown, limits: RoutingLimits): ThreadEnding | undefined {
  const name = agent.name;
  if (typeof target !== 'string') {
    return rejected(name, name, 'invalid_result', `Agent ${quote(name)} returned { to } that is not an agent name (got ${typeof target})`);
  }
  if (!agent.peers.has(target)) {
    const declared = agent.peers.size ? [...agent.peers].join(', ') : 'none';
    return rejected(name, name, 'undeclared_peer', `Agent ${quote(name)} may not send to ${quote(target)}: not one of its declared peers (${declared})`);
  }
  if (!limits.isAgent(target)) {
    return rejected(name, name, 'unknown_agent', `Agent ${quote(name)} sent to ${quote(target)}, which is not a registered agent`);
  }
  if (t.stack.length >= limits.maxDepth) {
    const tail = [...t.stack.slice(-6), name, target].join(' -> ');
    return rejected(
      name,
      name,
      'depth',
      `Thread ${t.id}: agent ${quote(name)} sending to ${quote(target)} would exceed maxDepth (${limits.maxDepth} callers waiting): ...${tail}`,
    );
  }
  return undefined;
}

/** Own keys of `value` other than `a` and `b`, or `undefined` when there are none. */
function extraKeys(value: object, a: string, b: string): string[] | undefined {
  let extra: string[] | undefined;
  for (const key of Object.keys(value)) if (key !== a && key !== b) (extra ??= []).push(key);
  return extra;
}
