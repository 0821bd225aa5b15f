/**
 * The arguments of each operation of the policy batch script (see `LINE_ARGS` in `policy-batch-script.ts`),
 * built by {@link RedisPolicyLedger}.
 */
import type { PolicyAmount, PolicyLine, PolicyReservation } from '../../../budget/policy-types.js';
import { LINE_ARGS, POP_RELEASE, POP_RESERVE, POP_RESERVE_CREATE, POP_SETTLE } from './policy-batch-script.js';
import { limitArg, lineKind } from './policy-replies.js';

type Args = (string | number)[];

/** Kind arguments (kind letter then scope) by kind and scope: built once, not per call. */
const KIND_ARGS = new Map<string, Map<string, string>>();

/** Thresholds arguments by the lines' thresholds array (a policy's lines share its array). */
const THRESHOLD_ARGS = new WeakMap<readonly number[], string>();

/** A budget line's thresholds as one argument (`''` for a rate line, or none). */
function thresholdsArg(line: PolicyLine): string {
  if (line.meter !== 'budget' || line.thresholds.length === 0) return '';
  let arg = THRESHOLD_ARGS.get(line.thresholds);
  if (arg === undefined) THRESHOLD_ARGS.set(line.thresholds, (arg = line.thresholds.join(',')));
  return arg;
}

/** A line's kind argument: its kind (see `KIND_BUDGET`) followed by its scope. */
function kindArg(line: PolicyLine): string {
  const kind = lineKind(line);
  let byScope = KIND_ARGS.get(kind);
  if (byScope === undefined) KIND_ARGS.set(kind, (byScope = new Map()));
  let arg = byScope.get(line.scope);
  if (arg === undefined) byScope.set(line.scope, (arg = kind + line.scope));
  return arg;
}

/** A reserve: `report` missing budget lines (the ledger restores them) or create them at zero. */
export function reserveArgs(lines: readonly PolicyLine[], amount: PolicyAmount, member: string, report: boolean): Args {
  const args: Args = [report ? POP_RESERVE : POP_RESERVE_CREATE, lines.length, member, amount.nanos, amount.tokens];
  for (const line of lines) {
    const { limits } = line;
    args.push(kindArg(line), limitArg(limits.nanos), limitArg(limits.tokens), limitArg(limits.requests), line.resetsAt ?? '', line.entity);
  }
  return args;
}

/** A settle of `reservation` (whose hold is `member`) charging `actual`. */
export function settleArgs(reservation: PolicyReservation, member: string, actual: PolicyAmount): Args {
  const { lines, amount } = reservation;
  const args: Args = [POP_SETTLE, lines.length, member, amount.nanos, amount.tokens, actual.nanos, actual.tokens];
  for (const line of lines) args.push(kindArg(line), limitArg(line.limits.nanos), limitArg(line.limits.tokens), thresholdsArg(line), line.entity);
  return args;
}

/** A release of the hold `member` of `amount` on `lines`. */
export function releaseArgs(lines: readonly PolicyLine[], amount: PolicyAmount, member: string): Args {
  const args: Args = [POP_RELEASE, lines.length, member, amount.nanos, amount.tokens];
  for (const line of lines) args.push(kindArg(line), line.entity);
  return args;
}

/** The release that undoes a reserve sent with `args` (cancelled when the reserve failed on this side). */
export function releaseOfReserve(args: Args, lineCount: number): Args {
  const release: Args = [POP_RELEASE, lineCount, args[2]!, args[3]!, args[4]!];
  const per = LINE_ARGS.R;
  for (let i = 0; i < lineCount; i++) release.push(args[5 + i * per]!, args[5 + i * per + per - 1]!);
  return release;
}
