/**
 * The 1,000-concurrent-calls check of policy-guarantees.test.ts, shared by its memory-ledger run (one
 * gateway process) and its Redis-ledger run (two processes on one PostgreSQL store).
 *
 * The limits make both policies bind, each refusing some calls: user u-2 of org acme spends part of the
 * org's budget first, then u-1 sends 1,000 calls at once, half with a small completion cap (estimate
 * `estSmall`) and half with a big one (`estBig`). Every u-1 call is charged on both lines, so the org's
 * room stays the user's room minus `gap` (`estSmall <= gap <= estBig - estSmall`). Once the org cannot
 * afford a small call, a small call is refused by the org (the user line, checked first, still has
 * `gap >= estSmall`), and a big call by the user (its room is under `estSmall + gap <= estBig`).
 */
import type { Pool } from 'undici';
import { expect } from 'vitest';
import type { FakeServer, OpenAIScenario } from '../support/fake-openai-server.js';
import { chat, costNanos, estimateNanos, nanos, PROMPT_ESTIMATE, standing, storedSpend, usdOf, type ChatResult } from './policy-guarantees-support.js';

export interface RunPlan {
  policies: string[];
  small: number;
  big: number;
  estSmall: number;
  estBig: number;
  userMax: number;
  orgMax: number;
  /** Calls of u-2 before the run, each costing exactly `estSmall`. */
  u2Calls: number;
  calls: number;
}

/** The policies and amounts of the run (nano-USD). */
export function concurrentRunPlan(calls = 1000): RunPlan {
  const small = 10;
  const big = 40;
  const estSmall = estimateNanos(small);
  const estBig = estimateNanos(big);
  const gap = Math.floor(estBig / 2);
  if (!(estSmall <= gap && gap + estSmall <= estBig)) throw new Error(`the prompt estimate ${PROMPT_ESTIMATE} is too big for this plan`);
  const u2Calls = 40;
  const userMax = 6_000_000;
  const orgMax = userMax + u2Calls * estSmall - gap;
  return {
    policies: [
      `{ name: user-daily, scope: user, max_usd: ${usdOf(userMax)}, window: 1d }`,
      `{ name: org-monthly, scope: org, max_usd: ${usdOf(orgMax)}, window: 1mo }`,
    ],
    small,
    big,
    estSmall,
    estBig,
    userMax,
    orgMax,
    u2Calls,
    calls,
  };
}

export interface RunSetup {
  /** The gateways (their base URLs); calls are split across them. */
  urls: string[];
  /** One pool per gateway, in the same order. */
  pools: Pool[];
  /** The upstream every gateway calls (counts requests). */
  upstream: FakeServer<OpenAIScenario>;
  plan: RunPlan;
}

/** Runs the plan and checks every guarantee; each gateway's view is checked. */
export async function checkConcurrentRun({ urls, pools, upstream, plan }: RunSetup): Promise<void> {
  const { small, big, u2Calls, calls } = plan;
  // u-2 spends part of the org's budget: each call's usage is its estimate, so it costs exactly estSmall.
  upstream.enqueue(...Array.from({ length: u2Calls }, (): OpenAIScenario => ({ kind: 'ok', usage: { prompt_tokens: PROMPT_ESTIMATE, completion_tokens: small } })));
  const warmup = await Promise.all(Array.from({ length: u2Calls }, (_, i) => chat(pools[i % pools.length]!, { org: 'acme', user: 'u-2' }, small)));
  expect(warmup.filter((r) => r.status !== 200)).toEqual([]);

  // Usage of u-1's calls varies (never above a small call's estimate), so the sums below mean something.
  upstream.enqueue(
    ...Array.from({ length: calls }, (_, i): OpenAIScenario => ({
      kind: 'ok',
      usage: { prompt_tokens: Math.max(1, PROMPT_ESTIMATE - (i % 4)), completion_tokens: 1 + (i % small) },
    })),
  );
  const sentBefore = upstream.requests.length;
  const maxTokensOf = (i: number): number => (i % 2 === 0 ? small : big);
  const results: Array<ChatResult & { maxTokens: number }> = await Promise.all(
    Array.from({ length: calls }, async (_, i) => ({ ...(await chat(pools[i % pools.length]!, { org: 'acme', user: 'u-1' }, maxTokensOf(i))), maxTokens: maxTokensOf(i) })),
  );

  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  expect(ok.length + refused.length, `statuses: ${JSON.stringify(results.filter((r) => r.status !== 200 && r.status !== 429).slice(0, 3))}`).toBe(calls);
  expect(ok.length).toBeGreaterThan(0);
  const codes = new Set(refused.map((r) => r.body.error?.code));
  expect([...codes].sort()).toEqual(['org_budget_exhausted', 'user_budget_exhausted']);
  for (const r of refused) {
    // Each refusal names the estimate it could not afford, in USD.
    expect(nanos(r.body.error!.requested as number)).toBe(estimateNanos(r.maxTokens));
  }
  // Refused calls never reached the upstream; answered ones did, once each.
  expect(upstream.requests.length - sentBefore).toBe(ok.length);
  const answeredNanos = ok.reduce((sum, r) => sum + costNanos(r.body.usage!.prompt_tokens, r.body.usage!.completion_tokens), 0);

  // Every process flushes its own writes when asked, so ask each before comparing.
  for (const url of urls) await storedSpend(url, {});
  const user = await storedSpend(urls[0]!, { org_id: 'acme', user_id: 'u-1' });
  const org = await storedSpend(urls[0]!, { org_id: 'acme' });
  expect(user.events).toBe(ok.length);
  expect(user.costNanos).toBe(answeredNanos);
  expect(org.events).toBe(ok.length + u2Calls);
  expect(org.costNanos).toBe(answeredNanos + u2Calls * plan.estSmall);

  for (const url of urls) {
    const u = await standing(url, 'user-daily', 'acme/u-1');
    const o = await standing(url, 'org-monthly', 'acme');
    expect({ spent: nanos(u.spent_usd), tokens: u.used_tokens, reserved: u.reserved_usd, reservedTokens: u.reserved_tokens }).toEqual({
      spent: user.costNanos,
      tokens: user.tokens,
      reserved: 0,
      reservedTokens: 0,
    });
    expect({ spent: nanos(o.spent_usd), tokens: o.used_tokens, reserved: o.reserved_usd, reservedTokens: o.reserved_tokens }).toEqual({
      spent: org.costNanos,
      tokens: org.tokens,
      reserved: 0,
      reservedTokens: 0,
    });
    expect(nanos(u.max_usd!)).toBe(plan.userMax);
    expect(nanos(o.max_usd!)).toBe(plan.orgMax);
    expect(user.costNanos).toBeLessThanOrEqual(plan.userMax);
    expect(org.costNanos).toBeLessThanOrEqual(plan.orgMax);
  }
}
