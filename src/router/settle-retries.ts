import type { BudgetLedger, Reservation, UsageCharge } from '../budget/types.js';
import type { PolicyAmount, PolicyGuard, PolicyReservation } from '../budget/policy-types.js';
import { LedgerUnavailableError } from '../core/errors.js';

/** Delays between background settle attempts, ms: about 70 s in all, then the settle is given up. */
const RETRY_DELAYS_MS = [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000, 10_000, 10_000];

/**
 * Settles that failed, retried in the background with backoff (bounded: see `RETRY_DELAYS_MS`): a
 * thread's ({@link add}) and a call's budget policies' ({@link addPolicy}). Timers do not keep the process
 * alive; {@link idle} lets a shutdown (or a test) wait for them.
 */
export class SettleRetries {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly onGiveUp: (err: unknown, reservation: Reservation) => void,
    /** Told when a policy settle is given up (default: nothing is reported). */
    private readonly onPolicyGiveUp: (err: unknown, reservation: PolicyReservation) => void = () => undefined,
  ) {}

  /** Settles still being retried. */
  get size(): number {
    return this.running.size;
  }

  /** Retries `ledger.settle(reservation, amount)` until it succeeds or the attempts run out. */
  add(ledger: BudgetLedger, reservation: Reservation, amount: UsageCharge, firstError: unknown): void {
    this.track(() => ledger.settle(reservation, amount), firstError, (err) => this.onGiveUp(err, reservation));
  }

  /**
   * Retries `policies.settle(reservation, amount)` like {@link add}: only while the policy ledger cannot be
   * reached (`LedgerUnavailableError`). Until it lands, the hold keeps the amount out of the policies'
   * budgets (and lapses after the ledger's TTL if it never does).
   */
  addPolicy(policies: PolicyGuard, reservation: PolicyReservation, amount: PolicyAmount, firstError: unknown): void {
    this.track(() => policies.settle(reservation, amount), firstError, (err) => this.onPolicyGiveUp(err, reservation));
  }

  /** Resolves once every settle being retried has landed or been given up. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private track(settle: () => Promise<unknown>, firstError: unknown, giveUp: (err: unknown) => void): void {
    const run = this.retry(settle, firstError, giveUp).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async retry(settle: () => Promise<unknown>, firstError: unknown, giveUp: (err: unknown) => void): Promise<void> {
    let last = firstError;
    // Only a ledger that could not be reached may take the settle later; any other refusal stays a refusal.
    for (const delay of RETRY_DELAYS_MS) {
      if (!(last instanceof LedgerUnavailableError)) break;
      await new Promise<void>((resolve) => setTimeout(resolve, delay).unref());
      try {
        await settle();
        return;
      } catch (err) {
        last = err;
      }
    }
    try {
      giveUp(last);
    } catch {
      // reporting must not turn into an unhandled rejection
    }
  }
}
