/**
 * Lua scripts of {@link RedisPolicyLedger}. Each runs atomically in Redis, so the lines of a call are held,
 * charged and freed together, race-free across every process sharing the Redis.
 *
 * Keys (see `policy-keys.ts`):
 * - one hash per policy, meter and window (`<prefix>pl:<b|r>:<policy>:<windowStart>`), one field per
 *   entity: the line's state packed as `>dddddddI4I4` (64 bytes: spent nanos, used tokens, requests, held
 *   nanos, held tokens, when the hash expires (0: never), the highest percent used already alerted — so
 *   thresholds fire once per line and window across instances —, then the holds on it (= requests held)
 *   and whether it has refused a call yet (the exhausted alert, once)), followed by its meta
 *   `<scope>|<resetsAt>|<nanos limit>|<tokens limit>` (what `top` reports, overrides applied on top). One
 *   hash per policy and window, so that a batch reads and writes all the entities of a policy it touches
 *   with one HMGET and one HSET; it expires a grace after its window resets (a lifetime one never does).
 * - one sorted set of every live hold (`<prefix>ph`), scored by expiry (a lapsed hold moves to `<prefix>px`
 *   for a day, scored by when it lapsed, so that a late settle still charges its call, once); a hold's member is
 *   `<reservation id>:<nanos>:<tokens>:<kinds>` then `\0<hash>\0<entity>` per line (kinds: one letter per
 *   line, see `KIND_BUDGET`), so that a purge of lapsed holds knows what to give back where, and a batch
 *   looks up all the holds it settles with one ZMSCORE.
 * - the top of a policy in a window (`<its budget hash>:top`: entities scored by spent nanos,
 *   then tokens), expiring with its lines.
 * - the overrides (`<prefix>po`, field `<policy>\0<entity>`, value `<nanos>:<tokens>`).
 *
 * Reserve, settle and release share the batch script (`policy-batch-script.ts`).
 */
import { buildPolicyBatchScript } from './policy-batch-script.js';
import { policyCommon } from './policy-lua-common.js';

/** The Lua source of each policy ledger operation. */
export interface PolicyScripts {
  ops: string;
  init: string;
  standing: string;
  top: string;
}

/** Per line of `init`: spent nanos, used tokens, requests, nanos limit, tokens limit, override field, meta, key expiry, (unused), entity. */
export const INIT_LINE_ARGS = 10;

/** Builds the scripts for one key layout, hold TTL and grace of line keys after their window (see `LINE_ARGS`). */
export function buildPolicyScripts(holdsKey: string, lapsedKey: string, overridesKey: string, holdTtlMs: number, graceMs: number): PolicyScripts {
  const common = policyCommon(holdsKey, lapsedKey, overridesKey);
  return {
    ops: buildPolicyBatchScript(holdsKey, lapsedKey, overridesKey, holdTtlMs, graceMs),
    init: initScript(common),
    standing: standingScript(common),
    top: topScript(common),
  };
}

/**
 * KEYS: the hashes of budget lines to restore. ARGV: now, then per line the {@link INIT_LINE_ARGS}. Creates each line that is
 * still missing with its restored spend (an instance that restored it first wins); the thresholds already
 * passed by the restored spend count as alerted. Returns how many it created.
 */
function initScript(common: string): string {
  return `${common}
local created, now = 0, tonumber(ARGV[1])
for i = 1, #KEYS do
  local h, b = KEYS[i], (i - 1) * ${INIT_LINE_ARGS} + 2
  local s = fresh(tonumber(ARGV[b + 7]))
  s[1], s[2], s[3] = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local ln, lt = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local o = parseOverride(redis.call('HGET', OVERRIDES, ARGV[b + 5]) or nil)
  if o then ln, lt = o[1] or ln, o[2] or lt end
  s[7] = percent(s, ln, lt)
  if redis.call('HSETNX', h, ARGV[b + 9], encode(s, ARGV[b + 6])) == 1 then
    expireAt(h, s[6], now)
    local top = h .. ':top'
    redis.call('ZADD', top, fmt('%.17g', s[1] + s[2] / (s[2] + 1)), ARGV[b + 9])
    expireAt(top, s[6], now)
    created = created + 1
  end
end
return created
`;
}

/**
 * KEYS: the line's hash. ARGV: now, report missing (1/0), nanos limit, tokens limit, requests limit,
 * override field (`''` for a rate line), entity. Purges lapsed holds first. Returns `{}` for a missing line
 * when asked to report it, else the standing (9 values, zero for a missing line).
 */
function standingScript(common: string): string {
  return `${common}
local now = tonumber(ARGV[1])
purgeAll(now)
local ln, lt, lr = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[6] ~= '' then
  local o = parseOverride(redis.call('HGET', OVERRIDES, ARGV[6]) or nil)
  if o then ln, lt = o[1] or ln, o[2] or lt end
end
local v = redis.call('HGET', KEYS[1], ARGV[7])
local s
if v then
  s = decode(v)
elseif ARGV[2] == '1' then
  return {}
else
  s = fresh()
end
return {s[1], s[2], s[3], s[4], s[5], s[8], ln or -1, lt or -1, lr or -1}
`;
}

/**
 * ARGV: now, top key, the policy's budget hash in that window, limit, policy. Purges lapsed holds first.
 * Returns per entity (most spent first): entity, meta, spent nanos, used tokens, requests, held nanos,
 * held tokens, holds, override value (`''`: none).
 */
function topScript(common: string): string {
  return `${common}
local now, top, h, limit, policy = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
purgeAll(now)
local out = {}
local entities = redis.call('ZREVRANGE', top, 0, limit - 1)
if #entities == 0 then return out end
local fields = {}
for i = 1, #entities do fields[i] = policy .. '\\0' .. entities[i] end
local vals = redis.call('HMGET', h, unpack(entities))
local ovs = redis.call('HMGET', OVERRIDES, unpack(fields))
for i = 1, #entities do
  local v = vals[i]
  if v then
    local s = decode(v)
    local n = #out
    out[n + 1], out[n + 2] = entities[i], sub(v, 65)
    out[n + 3], out[n + 4], out[n + 5], out[n + 6], out[n + 7], out[n + 8] = s[1], s[2], s[3], s[4], s[5], s[8]
    out[n + 9] = ovs[i] or ''
  end
end
return out
`;
}
