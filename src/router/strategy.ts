import type { Backend } from '../core/types.js';

/** How the router picks among the backends that serve a model. */
export type RoutingStrategy = 'failover' | 'round-robin' | 'least-loaded';

/** Every strategy name, for validation and error messages. */
export const ROUTING_STRATEGIES: readonly RoutingStrategy[] = Object.freeze(['failover', 'round-robin', 'least-loaded']);

/** Whether `value` names a strategy. */
export function isRoutingStrategy(value: unknown): value is RoutingStrategy {
  return typeof value === 'string' && (ROUTING_STRATEGIES as readonly string[]).includes(value);
}

/**
 * Orders the candidate backends of one call; attempt N goes to the N-th usable backend of this order,
 * cycling.
 *
 * - `failover`: by `priority`, lower first; equal priorities keep their configured order.
 * - `round-robin`: the configured order rotated by `turn` (the router counts calls).
 * - `least-loaded`: by calls in flight (`loadOf`), fewest first; ties by priority, then configured order.
 *
 * @example
 * ```ts
 * orderBackends('failover', [b2, b1], { turn: 0, loadOf: (b) => router.inFlight(b) }); // [b1, b2] if b1.priority < b2.priority
 * ```
 */
export function orderBackends(
  strategy: RoutingStrategy,
  candidates: readonly Backend[],
  context: { turn: number; loadOf: (backend: Backend) => number },
): Backend[] {
  switch (strategy) {
    case 'failover':
      return [...candidates].sort((a, b) => priorityOf(a) - priorityOf(b));
    case 'round-robin': {
      const n = candidates.length;
      if (n === 0) return [];
      const start = ((context.turn % n) + n) % n;
      return [...candidates.slice(start), ...candidates.slice(0, start)];
    }
    case 'least-loaded': {
      const loads = new Map(candidates.map((b) => [b, context.loadOf(b)]));
      return [...candidates].sort((a, b) => loads.get(a)! - loads.get(b)! || priorityOf(a) - priorityOf(b));
    }
  }
}

function priorityOf(backend: Backend): number {
  const p = backend.priority;
  return typeof p === 'number' && !Number.isNaN(p) ? p : Number.MAX_SAFE_INTEGER;
}
