/**
 * Lua scripts of {@link RedisPolicyLedger}. Each runs atomically in Redis, so the lines of a call are held,
 * charged and freed together, race-free across every process sharing the Redis.
 *
 * One hash per line (`<prefix>pl:<b|r>:<policy>:<windowStart>:<entity>`, see `policy-keys.ts`):
 * - field `s`, the line's state packed as `>dddddddI4I4` (64 bytes): spent nanos, used tokens, requests,
 *   held nanos, held tokens, a lower bound of the earliest hold expiry (exact after a purge), the highest
 *   percent used already alerted (thresholds fire once per line and window across instances), then the
 *   number of holds (= requests held) and whether the line has refused a call yet (exhausted alert once).
 * - field `m`: `<scope>|<resetsAt>|<nanos limit>|<tokens limit>` as the policy had them when the line was
 *   created (what `top` reports, overrides applied on top).
 * - one field per hold: `<reservation id>:<nanos>:<tokens>` (nanos 0 on an unpriced line), valued with its
 *   expiry (epoch ms), so that a purge knows what a lapsed hold gave back without another lookup.
 * A line's key expires `grace` after its window resets (lifetime lines never expire), and so does its
 * policy's top (`<prefix>pt:<policy>:<windowStart>`, entities scored by spent nanos, then tokens).
 * Overrides live in one hash (`<prefix>po`, field `<policy>\0<entity>`, value `<nanos>:<tokens>`).
 *
 * Reserve, settle and release share the batch script (`policy-batch-script.ts`).
 */
import { buildPolicyBatchScript, policyCommon } from './policy-batch-script.js';

/** The Lua source of each policy ledger operation. */
export interface PolicyScripts {
  ops: string;
  init: string;
  standing: string;
  top: string;
}

/** Per line of `init`: spent nanos, used tokens, requests, nanos limit, tokens limit, override field, meta, key expiry, top key, entity. */
export const INIT_LINE_ARGS = 10;

/** Builds the scripts for one key prefix and hold TTL. */
export function buildPolicyScripts(holdMin: number, holdTtlMs: number, overridesKey: string): PolicyScripts {
  const common = policyCommon(holdMin);
  return {
    ops: buildPolicyBatchScript(holdMin, holdTtlMs, overridesKey),
    init: initScript(common, overridesKey),
    standing: standingScript(common, overridesKey),
    top: topScript(common, overridesKey),
  };
}

/**
 * KEYS: budget lines to restore. ARGV: per line the {@link INIT_LINE_ARGS}. Creates each line that is
 * still missing with its restored spend (an instance that restored it first wins); the thresholds already
 * passed by the restored spend count as alerted. Returns how many it created.
 */
function initScript(common: string, overridesKey: string): string {
  return `${common}
local created = 0
for i = 1, #KEYS do
  local key, b = KEYS[i], (i - 1) * ${INIT_LINE_ARGS} + 1
  if redis.call('EXISTS', key) == 0 then
    local s = fresh()
    s[1], s[2], s[3] = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local ln, lt = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    local o = parseOverride(redis.call('HGET', '${overridesKey}', ARGV[b + 5]) or nil)
    if o then ln, lt = o[1] or ln, o[2] or lt end
    s[7] = percent(s, ln, lt)
    redis.call('HSET', key, 's', pack(s), 'm', ARGV[b + 6])
    local top = ARGV[b + 8]
    redis.call('ZADD', top, fmt('%.17g', s[1] + s[2] / (s[2] + 1)), ARGV[b + 9])
    if ARGV[b + 7] ~= '' then
      redis.call('PEXPIREAT', key, ARGV[b + 7])
      redis.call('PEXPIREAT', top, ARGV[b + 7])
    end
    created = created + 1
  end
end
return created
`;
}

/**
 * KEYS: one line. ARGV: now, report missing (1/0), nanos limit, tokens limit, requests limit, override
 * field (`''` for a rate line). Returns `{}` for a missing line when asked to report it, else the standing
 * (9 values, zero for a missing line; lapsed holds purged).
 */
function standingScript(common: string, overridesKey: string): string {
  return `${common}
local key, now = KEYS[1], tonumber(ARGV[1])
local ln, lt, lr = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[6] ~= '' then
  local o = parseOverride(redis.call('HGET', '${overridesKey}', ARGV[6]) or nil)
  if o then ln, lt = o[1] or ln, o[2] or lt end
end
local v = redis.call('HGET', key, 's')
local s
if v then
  s = {sunpack(FMT, v)}
  if purged(key, s, now) then redis.call('HSET', key, 's', pack(s)) end
elseif ARGV[2] == '1' then
  return {}
else
  s = fresh()
end
return {s[1], s[2], s[3], s[4], s[5], s[8], ln or -1, lt or -1, lr or -1}
`;
}

/**
 * ARGV: now, top key, line key base, limit, policy. Returns per entity (most spent first): entity, meta,
 * spent nanos, used tokens, requests, held nanos, held tokens, holds, override value (`''`: none).
 */
function topScript(common: string, overridesKey: string): string {
  return `${common}
local now, top, base, limit, policy = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out = {}
local entities = redis.call('ZREVRANGE', top, 0, limit - 1)
for i = 1, #entities do
  local e = entities[i]
  local key = base .. e
  local v = redis.call('HMGET', key, 's', 'm')
  if v[1] then
    local s = {sunpack(FMT, v[1])}
    if purged(key, s, now) then redis.call('HSET', key, 's', pack(s)) end
    local n = #out
    out[n + 1], out[n + 2] = e, v[2] or ''
    out[n + 3], out[n + 4], out[n + 5], out[n + 6], out[n + 7], out[n + 8] = s[1], s[2], s[3], s[4], s[5], s[8]
    out[n + 9] = redis.call('HGET', '${overridesKey}', policy .. '\\0' .. e) or ''
  end
end
return out
`;
}
