/**
 * Helpers of the policy guarantee tests (policy-guarantees.test.ts): the YAML of a `tokenwarden serve`
 * process with budget policies in front of a fake OpenAI upstream, calls through an undici Pool, the
 * standings of `GET /v1/budgets/{policy}/{entity}` and the stored events' cost in integer nanos.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from 'undici';
import { estimateTokens } from '../../src/tokens/estimate.js';
import type { ChatMessage } from '../../src/core/types.js';

/** The model the fake upstream answers for, priced by the config's `prices:` section. */
export const MODEL = 'guard-model';
/** USD per 1M tokens of {@link MODEL}: 1000 nano-USD per prompt token, 4000 per completion token. */
export const PRICE = { input: 1, output: 4 } as const;
export const IN_NANOS = PRICE.input * 1000;
export const OUT_NANOS = PRICE.output * 1000;

export const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Please count to three.' }];
/** The gateway's prompt estimate of {@link MESSAGES} (the router's default estimator, as in dist). */
export const PROMPT_ESTIMATE = estimateTokens(MESSAGES, { model: MODEL });

/** The nano-USD a call with `maxTokens` reserves on a USD policy: prompt estimate × input + cap × output. */
export function estimateNanos(maxTokens: number): number {
  return PROMPT_ESTIMATE * IN_NANOS + maxTokens * OUT_NANOS;
}

/** The nano-USD the tracker charges for a usage. */
export function costNanos(promptTokens: number, completionTokens: number): number {
  return promptTokens * IN_NANOS + completionTokens * OUT_NANOS;
}

/** USD of nano-USD as the YAML writes it (exact back to the nano for these magnitudes). */
export const usdOf = (nanos: number): string => String(nanos / 1e9);

export interface ServeConfig {
  dir: string;
  name: string;
  /** The fake upstream's base URL (ends in /v1). */
  upstream: string;
  /** YAML of `budgets.policies` entries, one flow mapping per line. */
  policies: string[];
  /** The `store:` value (default: `{ sqlite: ./<name>.db }`). */
  store?: string;
  /** The `ledger:` value (default memory). */
  ledger?: string;
}

/** Writes `<dir>/<name>.yaml` for `tokenwarden serve` and returns its path. */
export async function writeServeConfig(c: ServeConfig): Promise<string> {
  const file = join(c.dir, `${c.name}.yaml`);
  await writeFile(
    file,
    `server: { port: 0, shutdown_timeout_ms: 1000 }
store: ${c.store ?? `{ sqlite: ./${c.name}.db }`}
${c.ledger !== undefined ? `ledger: ${c.ledger}\n` : ''}providers:
  retries: 0
  backends:
    - { name: fake, provider: openai-compatible, base_url: "${c.upstream}", models: ["${MODEL}"] }
prices:
  ${MODEL}: { input: ${PRICE.input}, output: ${PRICE.output} }
budgets:
  policies:
${c.policies.map((p) => `    - ${p}`).join('\n')}
`,
  );
  return file;
}

export interface ChatResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }; error?: Record<string, unknown> };
}

/** One chat call of `user` (and `agent`) in `org` through `pool`, keyless (the caller is an admin in the org x-org-id names). */
export async function chat(pool: Pool, who: { org: string; user?: string; agent?: string }, maxTokens: number): Promise<ChatResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-org-id': who.org };
  if (who.user !== undefined) headers['x-user-id'] = who.user;
  if (who.agent !== undefined) headers['x-agent-id'] = who.agent;
  const res = await pool.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers,
    body: JSON.stringify({ model: MODEL, messages: MESSAGES, max_tokens: maxTokens }),
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as ChatResult['body'] };
}

/** The JSON of a budget standing (see `standingJson`). */
export interface Standing {
  policy: string;
  entity: string;
  window_start: string | null;
  resets_at: string | null;
  max_usd: number | null;
  spent_usd: number;
  reserved_usd: number;
  max_tokens: number | null;
  used_tokens: number;
  reserved_tokens: number;
  [key: string]: unknown;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as unknown };
}

/** `GET /v1/budgets/{policy}/{entity}` of a keyless (admin) gateway; a qualified entity `acme/u-1` is sent as `acme%2Fu-1`. */
export async function standing(url: string, policy: string, entity: string): Promise<Standing> {
  const { status, body } = await getJson(`${url}/v1/budgets/${encodeURIComponent(policy)}/${encodeURIComponent(entity)}`);
  if (status !== 200) throw new Error(`GET /v1/budgets/${policy}/${entity}: ${status} ${JSON.stringify(body)}`);
  return body as Standing;
}

/** Nano-USD of a USD amount of a standing. */
export const nanos = (usd: number): number => Math.round(usd * 1e9);

/**
 * The stored events of `filter` (`org_id`, `user_id`, ...) through `GET /v1/usage/events`, page by page:
 * their count, the sum of their `cost_nanos` and of their tokens; checked against `GET /v1/usage/summary`.
 */
export async function storedSpend(url: string, filter: Record<string, string>): Promise<{ events: number; costNanos: number; tokens: number }> {
  let cursor: string | null = null;
  const out = { events: 0, costNanos: 0, tokens: 0 };
  do {
    const params = new URLSearchParams({ ...filter, limit: '1000', ...(cursor !== null ? { cursor } : {}) });
    const { status, body } = await getJson(`${url}/v1/usage/events?${params}`);
    if (status !== 200) throw new Error(`GET /v1/usage/events: ${status} ${JSON.stringify(body)}`);
    const page = body as { data: Array<{ cost_nanos: number | null; total_tokens: number }>; next_cursor: string | null };
    for (const e of page.data) {
      if (e.cost_nanos === null) throw new Error('an event of the priced model has no cost');
      out.events++;
      out.costNanos += e.cost_nanos;
      out.tokens += e.total_tokens;
    }
    cursor = page.next_cursor;
  } while (cursor !== null);
  const summary = (await getJson(`${url}/v1/usage/summary?${new URLSearchParams(filter)}`)).body as {
    totals: { cost_nanos: number | null; request_count: number; total_tokens: number };
  };
  if (summary.totals.request_count !== out.events || (summary.totals.cost_nanos ?? 0) !== out.costNanos || summary.totals.total_tokens !== out.tokens) {
    throw new Error(`usage summary ${JSON.stringify(summary.totals)} disagrees with the events ${JSON.stringify(out)}`);
  }
  return out;
}

/** Polls `check` every 25 ms until it returns true, or throws naming `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
