import type { ServerResponse } from 'node:http';
import type { RouterCharge } from '../../router/charge.js';
import { setPolicyHeaders } from '../budget-headers.js';
import { setBudgetHeaders } from '../respond.js';
import type { ChatHandlerContext } from './chat-context.js';
import { budgetHeadersFromRefusal, storeFailed } from './chat-errors.js';

/**
 * The part every metered, non-streaming API shares: runs the router call (a budget refusal gets the
 * budget headers on its 429), waits until the usage event is stored (else 503: an answer is never sent
 * unbilled), then sets `x-usage-event-id` and the budget headers (`x-budget-*`, and `x-budget-threshold` for the highest
 * threshold the call crossed; the tightest budget policy's `x-budget-*` and `x-ratelimit-*` after the charge). `undefined` when the client has gone meanwhile: only the answer is dropped.
 */
export async function chargedAnswer<T extends RouterCharge>(
  ctx: Pick<ChatHandlerContext, 'durable'>,
  res: ServerResponse,
  call: () => Promise<T>,
): Promise<T | undefined> {
  let result: T;
  try {
    result = await call();
  } catch (err) {
    budgetHeadersFromRefusal(res, err);
    throw err;
  }
  try {
    await ctx.durable(result.event);
  } catch (err) {
    throw storeFailed(err);
  }
  if (res.destroyed) return undefined;
  // The answer's id is the upstream's: this header ties it to its usage event (GET /v1/usage/events).
  res.setHeader('x-usage-event-id', result.event.id);
  const usage = result.budget?.usage;
  if (usage) setBudgetHeaders(res, usage);
  setPolicyHeaders(res, result.policies);
  const crossed = result.budget?.crossed;
  if (crossed && crossed.length > 0) {
    // The highest threshold this call crossed, e.g. "critical; percent=90".
    const top = crossed.reduce((a, b) => (b.percent > a.percent ? b : a));
    res.setHeader('x-budget-threshold', `${top.severity}; percent=${top.percent}`);
  }
  return result;
}
