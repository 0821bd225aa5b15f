import type { EventSpool } from '../spool/event-spool.js';
import { SpoolHealth } from '../spool/spool-health.js';
import { messageOf } from './postgres-errors.js';

/**
 * Why events waiting for PostgreSQL make the store not ready: more than `maxQueue` of them (the database
 * is down or not keeping up). Undefined while the backlog is within bounds.
 */
export function backlogProblem(pending: number, maxQueue: number, describe: string, lastError: unknown): string | undefined {
  if (pending <= maxQueue) return undefined;
  const why = lastError === undefined ? 'not keeping up' : `failing: ${messageOf(lastError)}`;
  return `${pending} usage events wait for ${describe} (more than maxQueue ${maxQueue}); the database is ${why}`;
}

/**
 * Readiness of {@link PostgresUsageStore}'s write side: its spool (deleted or replaced while open, a
 * failed write until a probe write succeeds; see {@link SpoolHealth}) and its backlog ({@link backlogProblem}).
 */
export class PostgresHealth {
  private readonly spool: SpoolHealth;

  constructor(
    spool: EventSpool,
    private readonly describe: string,
    private readonly maxQueue: number,
  ) {
    this.spool = new SpoolHealth(spool);
  }

  /** Starts watching the spool file (once it is open). */
  start(): void {
    this.spool.start();
  }

  stop(): void {
    this.spool.stop();
  }

  /** Why an append must be refused now (the spool cannot be written), or undefined. */
  get refusal(): string | undefined {
    return this.spool.refusal;
  }

  /** Records the outcome of a spool write (an error makes the store not ready until a probe succeeds). */
  noteWrite(err?: unknown): void {
    this.spool.noteWrite(err);
  }

  /** Why the store cannot keep new events now, or undefined. */
  problem(pending: number, lastError: unknown): string | undefined {
    return this.spool.check() ?? backlogProblem(pending, this.maxQueue, this.describe, lastError);
  }
}
