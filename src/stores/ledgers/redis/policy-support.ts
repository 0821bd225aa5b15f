/** Helpers of {@link RedisPolicyLedger}: its script commands, restored lines, `top` and override replies. */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ValidationError } from '../../../core/errors.js';
import type {
  LineLimits,
  PolicyAlert,
  PolicyAmount,
  PolicyLine,
  PolicyOverride,
  PolicyReservation,
  PolicyReserved,
  PolicyScope,
  PolicyStanding,
} from '../../../budget/policy-types.js';
import { FAIL_OPEN_RESERVATION_PREFIX } from './ledger-options.js';
import { overrideField } from './policy-keys.js';
import { limitArg } from './policy-replies.js';
import type { PolicyScripts } from './policy-scripts.js';

/** Runs one script: its keys, then its arguments. */
export type PolicyCommand = (keys: string[], args: (string | number)[]) => Promise<unknown>;
export type PolicyCommands = Record<keyof PolicyScripts, PolicyCommand>;

type DefinedCommand = (numkeys: number, keys: string[], args: (string | number)[]) => Promise<unknown>;

/** The scripts as ioredis custom commands named after their hash (EVALSHA, EVAL after a NOSCRIPT), as the thread ledger does. */
export function definePolicyCommands(client: Redis, scripts: PolicyScripts): PolicyCommands {
  const define = (lua: string): PolicyCommand => {
    const name = `tokenwarden_${createHash('sha1').update(lua).digest('hex')}`;
    const commands = client as Redis & Partial<Record<string, DefinedCommand>>;
    if (typeof commands[name] !== 'function') client.defineCommand(name, { lua });
    return (keys, args) => commands[name]!.call(client, keys.length, keys, args);
  };
  return { ops: define(scripts.ops), init: define(scripts.init), standing: define(scripts.standing), top: define(scripts.top) };
}

function checkedCount(field: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) {
    throw new ValidationError(field, n, 'must be a whole number >= 0');
  }
  return n;
}

/** The `init` arguments of a restored line (`spent` checked: what `restore` resolved to). */
export function restoredArgs(
  line: PolicyLine,
  spent: PolicyAmount & { requests: number },
  meta: string,
  expireAt: number | string,
  inTop: string,
): (string | number)[] {
  if (spent === null || typeof spent !== 'object') throw new ValidationError('restore()', spent, 'must resolve to { nanos, tokens, requests }');
  return [
    checkedCount('restore().nanos', spent.nanos),
    checkedCount('restore().tokens', spent.tokens),
    checkedCount('restore().requests', spent.requests),
    limitArg(line.limits.nanos),
    limitArg(line.limits.tokens),
    overrideField(line.policy, line.entity),
    meta,
    expireAt,
    inTop,
    line.entity,
  ];
}

/** An override value `<nanos>:<tokens>` (empty parts: none) as numbers. */
function parseOverride(value: string): { maxNanos?: number; maxTokens?: number } {
  const [n = '', t = ''] = value.split(':');
  const out: { maxNanos?: number; maxTokens?: number } = {};
  if (n !== '') out.maxNanos = Number(n);
  if (t !== '') out.maxTokens = Number(t);
  return out;
}

/** The overrides hash (`HGETALL`) as overrides, by policy then entity. */
export function overridesFrom(hash: Record<string, string>): PolicyOverride[] {
  const out: PolicyOverride[] = [];
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.indexOf('\0');
    if (cut < 0) continue;
    out.push({ policy: field.slice(0, cut), entity: field.slice(cut + 1), ...parseOverride(value) });
  }
  return out.sort((a, b) => (a.policy === b.policy ? cmp(a.entity, b.entity) : cmp(a.policy, b.policy)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Values per entity in the `top` script's reply. */
const TOP_VALUES = 9;

/** The standings of a `top` reply (entity, meta, six numbers, override value per entity). */
export function topStandings(policy: string, windowStart: number, reply: readonly unknown[]): PolicyStanding[] {
  const out: PolicyStanding[] = [];
  for (let i = 0; i + TOP_VALUES <= reply.length; i += TOP_VALUES) {
    const [scope = 'global', resets = '', nanos = '', tokens = ''] = String(reply[i + 1]).split('|');
    const limits: LineLimits = {};
    if (nanos !== '') limits.nanos = Number(nanos);
    if (tokens !== '') limits.tokens = Number(tokens);
    const o = parseOverride(String(reply[i + 8]));
    if (o.maxNanos !== undefined) limits.nanos = o.maxNanos;
    if (o.maxTokens !== undefined) limits.tokens = o.maxTokens;
    out.push({
      policy,
      scope: scope as PolicyScope,
      entity: String(reply[i]),
      meter: 'budget',
      windowStart,
      resetsAt: resets === '' ? null : Number(resets),
      limits,
      spentNanos: Number(reply[i + 2]),
      usedTokens: Number(reply[i + 3]),
      requests: Number(reply[i + 4]),
      reservedNanos: Number(reply[i + 5]),
      reservedTokens: Number(reply[i + 6]),
      reservedRequests: Number(reply[i + 7]),
    });
  }
  return out;
}

/** Whether a reservation is a synthetic one of a fail-open policy ledger (it holds nothing). */
export function isFailOpenPolicyReservation(reservation: PolicyReservation): boolean {
  return reservation.id.startsWith(FAIL_OPEN_RESERVATION_PREFIX);
}

/** What a fail-open reserve returns while Redis is unreachable: a reservation holding nothing, lines at zero. */
export function failOpenReserved(id: string, lines: readonly PolicyLine[], amount: PolicyAmount, expiresAt: number): PolicyReserved {
  const standings = lines.map((line): PolicyStanding => ({
    policy: line.policy,
    scope: line.scope,
    entity: line.entity,
    meter: line.meter,
    windowStart: line.windowStart,
    resetsAt: line.resetsAt,
    limits: { ...line.limits },
    spentNanos: 0,
    reservedNanos: 0,
    usedTokens: 0,
    reservedTokens: 0,
    requests: 0,
    reservedRequests: 0,
  }));
  const reservation = { id: FAIL_OPEN_RESERVATION_PREFIX + id, lines: [...lines], amount: { nanos: amount.nanos, tokens: amount.tokens }, expiresAt };
  return { reservation, standings };
}

/** Delivers each alert to every listener; what a listener throws (or its promise rejects with) goes to `report`. */
export function emitAlerts(listeners: ReadonlySet<(alert: PolicyAlert) => void>, alerts: readonly PolicyAlert[], report: (err: unknown) => void): void {
  for (const alert of alerts) {
    for (const listener of listeners) {
      try {
        const result: unknown = listener(alert);
        if (result instanceof Promise) result.catch(report);
      } catch (err) {
        report(err);
      }
    }
  }
}
