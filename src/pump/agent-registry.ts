import type { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { assertPositiveInteger } from '../core/validate.js';
import { Fifo } from '../core/fifo.js';
import { EXTERNAL_SENDER, type AgentDefinition, type AgentHandler, type BudgetWarning, type PumpCompletion } from './types.js';

const NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
const MAX_PEERS = 1024;
const DEFINITION_KEYS = ['schema', 'peers', 'timeoutMs', 'concurrency', 'handler', 'onWarning'];

/**
 * Counts steps of one agent running at once and queues the rest, first come first served.
 * Waiters are bounded by the number of live threads (a thread waits for at most one agent at a time).
 */
export class ConcurrencyLimiter {
  active = 0;
  private readonly waiters = new Fifo<() => void>();

  constructor(readonly limit: number) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  /** Queues `grant`, called with the slot already taken; returns a function that withdraws it. */
  wait(grant: () => void): () => void {
    this.waiters.push(grant);
    return () => {
      this.waiters.remove(grant);
    };
  }

  /** Frees a slot, handing it to the oldest waiter if there is one. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}

/** An agent as the pump keeps it. */
export interface RegisteredAgent {
  readonly name: string;
  readonly schema: z.ZodType;
  readonly peers: ReadonlySet<string>;
  readonly timeoutMs: number | undefined;
  readonly limiter: ConcurrencyLimiter | undefined;
  readonly handler: AgentHandler<unknown, PumpCompletion>;
  readonly onWarning: ((warning: BudgetWarning) => void) | undefined;
}

/**
 * The pump's agents by name. Validates each definition up front: the name (letters, digits, `_ . : -`,
 * starting with a letter, at most 64 characters, not `external`), the schema, the peers, the timeout and
 * the concurrency limit. A name can be registered once.
 *
 * @example
 * ```ts
 * const agents = new AgentRegistry();
 * agents.register('echo', { schema: z.object({ text: z.string() }), handler: (p) => ({ respond: p }) });
 * agents.get('echo')?.peers; // Set {}
 * ```
 */
export class AgentRegistry {
  private readonly agents = new Map<string, RegisteredAgent>();

  get size(): number {
    return this.agents.size;
  }

  get(name: string): RegisteredAgent | undefined {
    return this.agents.get(name);
  }

  names(): string[] {
    return [...this.agents.keys()];
  }

  /** Every agent whose concurrency is limited. */
  *limiters(): Iterable<ConcurrencyLimiter> {
    for (const agent of this.agents.values()) if (agent.limiter) yield agent.limiter;
  }

  register<S extends z.ZodType, R extends PumpCompletion>(name: string, definition: AgentDefinition<S, R>): RegisteredAgent {
    assertAgentName('name', name);
    if (this.agents.has(name)) throw new ValidationError('name', name, 'an agent with this name is already registered');
    if (definition === null || typeof definition !== 'object') {
      throw new ValidationError(`agents.${name}`, definition, 'must be an object { schema, handler, peers?, timeoutMs?, concurrency? }');
    }
    for (const key of Object.keys(definition)) {
      if (!DEFINITION_KEYS.includes(key)) {
        throw new ValidationError(`agents.${name}.${key}`, (definition as unknown as Record<string, unknown>)[key], `unknown agent option (expected one of ${DEFINITION_KEYS.join(', ')})`);
      }
    }
    const { schema, peers = [], timeoutMs, concurrency, handler, onWarning } = definition;
    if (schema === null || typeof schema !== 'object' || typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
      throw new ValidationError(`agents.${name}.schema`, schema, 'must be a zod schema');
    }
    if (typeof handler !== 'function') throw new ValidationError(`agents.${name}.handler`, handler, 'must be a function');
    if (onWarning !== undefined && typeof onWarning !== 'function') {
      throw new ValidationError(`agents.${name}.onWarning`, onWarning, 'must be a function');
    }
    if (!Array.isArray(peers)) throw new ValidationError(`agents.${name}.peers`, peers, 'must be an array of agent names');
    if (peers.length > MAX_PEERS) throw new ValidationError(`agents.${name}.peers`, peers.length, `at most ${MAX_PEERS} peers`);
    peers.forEach((peer, i) => assertAgentName(`agents.${name}.peers[${i}]`, peer));
    if (timeoutMs !== undefined) assertPositiveInteger(`agents.${name}.timeoutMs`, timeoutMs);
    if (concurrency !== undefined) assertPositiveInteger(`agents.${name}.concurrency`, concurrency);
    const agent: RegisteredAgent = Object.freeze({
      name,
      schema,
      peers: new Set(peers),
      timeoutMs,
      limiter: concurrency === undefined ? undefined : new ConcurrencyLimiter(concurrency),
      handler: handler as AgentHandler<unknown, PumpCompletion>,
      onWarning,
    });
    this.agents.set(name, agent);
    return agent;
  }
}

/** Throws a {@link ValidationError} naming `field` unless `value` is a valid agent name. */
export function assertAgentName(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be an agent name (a string)');
  if (value === EXTERNAL_SENDER) throw new ValidationError(field, value, `"${EXTERNAL_SENDER}" is reserved for messages from outside`);
  if (!NAME.test(value)) {
    throw new ValidationError(
      field,
      value,
      'must start with a letter and contain only letters, digits, "_", ".", ":" or "-" (at most 64 characters)',
    );
  }
}
