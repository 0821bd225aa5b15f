/**
 * Lua helpers every script of {@link RedisPolicyLedger} starts with: a line's state (packed, then its
 * meta), overrides, percent used, and the purge of lapsed holds (see `policy-scripts.ts` for the layout).
 */

/** Most lapsed holds one script purges (the rest go in the next calls). */
export const PURGE_LIMIT = 256;
/** How long a lapsed hold is remembered, so that its late settle still charges the call, once. */
export const LAPSED_KEEP_MS = 86_400_000;

/** The helpers, for the holds' sorted set `holdsKey` and the overrides' hash `overridesKey`. */
// eslint-disable-next-line max-lines-per-function -- one Lua text: the helpers every policy script shares
export function policyCommon(holdsKey: string, lapsedKey: string, overridesKey: string): string {
  return `
local fmt, sub, smatch, gmatch, spack, sunpack = string.format, string.sub, string.match, string.gmatch, struct.pack, struct.unpack
-- Globals used per line as locals (a global is a table lookup each time, a local a register).
local ARGV, KEYS, tonumber, unpack, pairs, redis = ARGV, KEYS, tonumber, unpack, pairs, redis
local FMT = '>dddddddI4I4'
local HOLDS, LAPSED, OVERRIDES = '${holdsKey}', '${lapsedKey}', '${overridesKey}'
local function int(x) return fmt('%d', x) end
local function fresh(expiry) return {0, 0, 0, 0, 0, expiry or 0, 0, 0, 0} end
local function decode(v) return {sunpack(FMT, v)} end
local function encode(s, meta) return spack(FMT, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]) .. meta end
-- Kinds (see KIND_BUDGET): budget lines, and lines that count nanos. Table lookups, not calls: they run per line.
local BUDGET, PRICED = {b = true, u = true}, {b = true, r = true}
-- An override value '<nanos>:<tokens>' as two numbers (nil: the policy's).
local function parseOverride(v)
  if not v then return nil end
  local a, b = smatch(v, '^([^:]*):([^:]*)$')
  return {tonumber(a), tonumber(b)}
end
-- Percent used of a budget line: the highest of spent/limit over the limits present (positive).
local function percent(s, ln, lt)
  local p = 0
  if ln and ln > 0 then p = s[1] * 100 / ln end
  if lt and lt > 0 and s[2] * 100 / lt > p then p = s[2] * 100 / lt end
  return p
end
-- A hold's member '<id>:<nanos>:<tokens>:<kinds>' then '\\0<hash>\\0<entity>' per line: {nanos, tokens, kinds, lines}
-- where lines alternates hash and entity.
local function parseHold(m)
  local hn, ht, kinds, rest = smatch(m, '^[^:]*:(%d+):(%d+):(%a*)(.*)$')
  local lines = {}
  for h, e in gmatch(rest, '%z([^%z]*)%z([^%z]*)') do lines[#lines + 1] = h; lines[#lines + 1] = e end
  return {tonumber(hn), tonumber(ht), kinds, lines}
end
-- Gives back what hold \`e\` held, on each of its lines that \`state(hash, entity)\` finds.
local function unhold(e, state)
  local lines = e[4]
  for x = 1, #lines / 2 do
    local s = state(lines[2 * x - 1], lines[2 * x])
    if s then
      if PRICED[sub(e[3], x, x)] then s[4] = s[4] - e[1] end
      s[5], s[8] = s[5] - e[2], s[8] - 1
    end
  end
end
-- Holds lapsed by \`now\` (at most ${PURGE_LIMIT}), parsed; their members are in the second list.
local function lapsed(now)
  local m = redis.call('ZRANGEBYSCORE', HOLDS, '-inf', int(now), 'LIMIT', '0', '${PURGE_LIMIT}')
  local e = {}
  for i = 1, #m do e[i] = parseHold(m[i]) end
  return e, m
end
-- Keeps lapsed holds' members a while (a late settle charges its call once), forgetting the oldest.
local function remember(members, now)
  local args = {}
  for i = 1, #members do args[2 * i - 1], args[2 * i] = int(now), members[i] end
  redis.call('ZADD', LAPSED, unpack(args))
  redis.call('ZREMRANGEBYSCORE', LAPSED, '-inf', '(' .. int(now - ${LAPSED_KEEP_MS}))
end
-- Expires a key \`at\` (epoch ms by the ledger's clock, which may differ from Redis's; 0: never).
local function expireAt(key, at, now)
  if at > 0 then redis.call('PEXPIRE', key, int(math.max(1, at - now))) end
end
-- Purges lapsed holds outside the batch script: each line read, given back and written once.
local function purgeAll(now)
  local e, members = lapsed(now)
  if #members == 0 then return end
  local cache, order = {}, {}
  local function state(h, en)
    local id = h .. '\\0' .. en
    local c = cache[id]
    if c == nil then
      local v = redis.call('HGET', h, en)
      if v then c = {decode(v), sub(v, 65), h, en} else c = false end
      cache[id] = c
      if c then order[#order + 1] = c end
    end
    return c and c[1]
  end
  for i = 1, #e do unhold(e[i], state) end
  for i = 1, #order do local c = order[i]; redis.call('HSET', c[3], c[4], encode(c[1], c[2])) end
  redis.call('ZREM', HOLDS, unpack(members))
  remember(members, now)
end
`;
}
