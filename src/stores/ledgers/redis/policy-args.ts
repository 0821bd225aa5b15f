/**
 * The arguments of each operation of the policy batch script (see `LINE_ARGS` in `policy-batch-script.ts`),
 * built by {@link RedisPolicyLedger}.
 */
import type { PolicyAmount, PolicyLine, PolicyReservation } from '../../../budget/policy-types.js';
import { POP_RELEASE, POP_RESERVE, POP_RESERVE_CREATE, POP_SETTLE } from './policy-batch-script.js';
import { overrideField } from './policy-keys.js';
import { limitArg, lineKind, lineMeta } from './policy-replies.js';

type Args = (string | number)[];

/**
 * A reserve: `report` missing budget lines (the ledger restores them) or create them at zero. Line keys
 * expire `graceMs` after their window resets.
 */
export function reserveArgs(lines: readonly PolicyLine[], amount: PolicyAmount, member: string, report: boolean, graceMs: number): Args {
  const args: Args = [report ? POP_RESERVE : POP_RESERVE_CREATE, lines.length, member, amount.nanos, amount.tokens];
  for (const line of lines) {
    const budget = line.meter === 'budget';
    args.push(
      lineKind(line),
      limitArg(line.limits.nanos),
      limitArg(line.limits.tokens),
      limitArg(line.limits.requests),
      budget ? overrideField(line.policy, line.entity) : '',
      lineMeta(line),
      line.resetsAt === null ? '' : line.resetsAt + graceMs,
      budget ? '+' : '',
      line.entity,
    );
  }
  return args;
}

/** A settle of `reservation` (whose hold is `member`) charging `actual`. */
export function settleArgs(reservation: PolicyReservation, member: string, actual: PolicyAmount): Args {
  const { lines, amount } = reservation;
  const args: Args = [POP_SETTLE, lines.length, member, amount.nanos, amount.tokens, actual.nanos, actual.tokens];
  for (const line of lines) {
    const budget = line.meter === 'budget';
    args.push(
      lineKind(line),
      limitArg(line.limits.nanos),
      limitArg(line.limits.tokens),
      budget ? overrideField(line.policy, line.entity) : '',
      budget ? '+' : '',
      line.entity,
    );
  }
  return args;
}

/** A release of the hold `member` of `amount` on `lines`. */
export function releaseArgs(lines: readonly PolicyLine[], amount: PolicyAmount, member: string): Args {
  const args: Args = [POP_RELEASE, lines.length, member, amount.nanos, amount.tokens];
  for (const line of lines) args.push(lineKind(line), line.entity);
  return args;
}

/** The release that undoes a reserve sent with `args` (cancelled when the reserve failed on this side). */
export function releaseOfReserve(args: Args, lineCount: number): Args {
  const release: Args = [POP_RELEASE, lineCount, args[2]!, args[3]!, args[4]!];
  for (let i = 0; i < lineCount; i++) release.push(args[5 + i * 9]!, args[13 + i * 9]!);
  return release;
}
