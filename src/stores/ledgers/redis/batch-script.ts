import { HOLD_MIN } from './ledger-state.js';
import type { ScriptParts } from './script-parts.js';

/**
 * Op codes of the batch script. Reserve args: hold id. Settle args: hold id, prompt, completion. Release
 * args: hold id. Cancel args: hold id (release the hold if it exists, else tombstone the id so that its
 * reserve, if it still runs, holds nothing).
 */
export const OP_RESERVE = 'R';
/** Reserve on a thread that exists only: a missing thread replies `{}` (the ledger restores it, then reserves). */
export const OP_RESERVE_EXISTING = 'Q';
export const OP_SETTLE = 'S';
export const OP_RELEASE = 'L';
export const OP_CANCEL = 'C';

/**
 * KEYS: the thread's hash per operation. ARGV: now, then per operation its code and arguments.
 * Returns one flat array: per operation, the length of its reply, then the reply (a flat array spares
 * Redis a Lua table and a nested reply per operation):
 * - reserve: `{expiresAt}` when held, else `{used, held, max}` (nothing held). Creates the thread with
 *   the default maximum if needed.
 * - settle: `{0}` when the thread does not exist, `{1, p, c, n, r, m}` when the hold was already
 *   settled, released or expired (nothing charged), `{2, p, c, n, r, m, fired...}` when charged, where
 *   `fired` lists the threshold percents (strings) crossed for the first time anywhere.
 * - release: `{1}` if a hold was freed, else `{0}`. Never creates a thread.
 * - cancel: like release, but when there is no such hold it leaves a tombstone (expiring with a hold's
 *   TTL) so that the reserve of that id, if it runs later, holds nothing; a reserve of a tombstoned id
 *   replies `{0, 0}`.
 *
 * Threads are numbered by first appearance in the batch (slot j); per-slot data lives in arrays (ST:
 * unpacked state, IDS: holds looked up, NEW: holds added, as HSET arguments, G: holds to delete; the
 * last three hold a plain string while there is only one id, sparing a table), and H maps a hold id to
 * the slot holding it (j if it was in Redis, -j if added by this batch).
 */
// eslint-disable-next-line max-lines-per-function -- one Lua program: its four passes share the locals of one script
export function buildBatchScript(parts: ScriptParts): string {
  const { common, max, holdTtl, ttl, slack, grouped, groupLimit, groupWindow, crossingsWith } = parts;
  return `${common}
local now = tonumber(ARGV[1])
local expires = now + ${holdTtl}
local expiresArg = int(expires)
local nops = #KEYS
local slot, K, IDS, J, A = {}, {}, {}, {}, {}
-- Adds v to T[k], kept as a bare value while there is one (most threads have one) and a list after.
local function push(T, k, v)
  local cur = T[k]
  if not cur then
    T[k] = v
  elseif type(cur) == 'table' then
    cur[#cur + 1] = v
  else
    T[k] = {cur, v}
  end
end
-- Pass 1: the threads touched, and the holds each one's settles and releases look up.
local a, t = 2, 0
for i = 1, nops do
  local key = KEYS[i]
  local j = slot[key]
  if not j then
    t = t + 1
    j = t
    slot[key] = j
    K[j] = key
  end
  J[i], A[i] = j, a
  local code, id = ARGV[a], ARGV[a + 1]
  -- Reserves look their id up too: a tombstone (cancelled first) or a hold (a resent reserve) stops them.
  if #id >= ${HOLD_MIN} then
    push(IDS, j, id)
  end
  local reserve = code == '${OP_RESERVE}' or code == '${OP_RESERVE_EXISTING}'
  a = a + (code == '${OP_SETTLE}' and 4 or reserve and ${grouped ? 3 : 2} or 2)
end
-- Pass 2: read each thread once (purging its expired holds if it may have any). TB: ids tombstoned.
local ST, H, DIRTY, TOUCH, NEW, G, NEWGONE, TB, TOMB = {}, {}, {}, {}, {}, {}, {}, {}, {}
local function found(id, value, j)
  if not value then return end
  if sub(value, 1, 1) == '-' then TB[id] = true else H[id] = j end
end
for j = 1, t do
  local key, ids = K[j], IDS[j]
  local v
  if not ids then
    v = redis.call('HMGET', key, 's')
  elseif type(ids) == 'table' then
    v = redis.call('HMGET', key, 's', unpack(ids))
  else
    v = redis.call('HMGET', key, 's', ids)
  end
  if ids then
    if type(ids) ~= 'table' then
      found(ids, v[2], j)
    else
      for i = 1, #ids do found(ids[i], v[i + 1], j) end
    end
  end
  if v[1] then
    local s = {sunpack(FMT, v[1])}
    ST[j] = s
    if s[8] > 0 and now >= s[7] then
      local sum, count, earliest = purge(key, now, H)
      s[5], s[8], s[7] = s[5] - sum, s[8] - count, earliest
      DIRTY[j] = true
    end
  end
end
-- Groups (when grouped): GN, threads counted per group key this batch; GK, the group key of each thread
-- slot this batch creates. Whether creating thread slot j in group \`gk\` would exceed the limit (if not,
-- counts it).
local GN, GK = {}, {}
-- Threads counted in group \`gk\` (this batch's creations included).
local function groupCount(gk)
  local n = GN[gk]
  if not n then
    -- Threads unused for the group window (or whose key idled out) leave the group's set (scores are
    -- last uses, known to within the slack of the keys' lazy expiry refresh).
    redis.call('ZREMRANGEBYSCORE', gk, '-inf', '(' .. int(now - ${groupWindow}))
    n = redis.call('ZCARD', gk)
    GN[gk] = n
  end
  return n
end
local function groupFull(gk, j)
  if gk == '' then return false end
  local n = groupCount(gk)
  if n >= ${groupLimit} then return true end
  GN[gk], GK[j] = n + 1, gk
  return false
end
-- Frees hold \`id\` (H[id] = h, which is j or -j) of thread slot j, state s.
local function drop(j, s, id, h)
  H[id] = nil
  if h == j then
    push(G, j, id)
  else
    NEWGONE[j] = true
  end
  s[5], s[8] = s[5] - tonumber(sub(id, ${HOLD_MIN})), s[8] - 1
  DIRTY[j] = true
end
-- Pass 3: the operations, in order.
local out, o = {}, 0
for i = 1, nops do
  local j, a = J[i], A[i]
  local s = ST[j]
  local code, id = ARGV[a], ARGV[a + 1]
  local reserve = code == '${OP_RESERVE}' or code == '${OP_RESERVE_EXISTING}'
  if reserve and (TB[id] or H[id] == j or H[id] == -j) then
    -- Cancelled before it ran ({0, 0}), or a resent reserve whose hold exists ({expires}): nothing more held.
    if TB[id] then
      out[o + 1] = 2; out[o + 2] = 0; out[o + 3] = 0; o = o + 3
    else
      out[o + 1] = 1; out[o + 2] = expires; o = o + 2
    end
  elseif code == '${OP_RESERVE_EXISTING}' and not s and ${grouped ? `(ARGV[a + 2] == '' or groupCount(ARGV[a + 2]) < ${groupLimit})` : 'true'} then
    -- Missing: the caller restores it from the usage record, then reserves. (A full group is refused
    -- below first, so a tenant at its cap costs no restore.)
    out[o + 1] = 0; o = o + 1
  elseif reserve and ${grouped ? `not s and groupFull(ARGV[a + 2], j)` : 'false'} then
    local gk = ARGV[a + 2]
    out[o + 1] = 4; out[o + 2] = GN[gk]; out[o + 3] = ${groupLimit}; out[o + 4] = 0; out[o + 5] = 0; o = o + 5
  elseif reserve then
    if not s then
      s = {${max}, 0, 0, 0, 0, 0, 0, 0, 0}
      ST[j] = s
      DIRTY[j] = true
    end
    TOUCH[j] = true
    local tokens = tonumber(sub(id, ${HOLD_MIN}))
    local used = s[2] + s[3]
    if used + s[5] + tokens > s[1] then
      out[o + 1] = 3; out[o + 2] = used; out[o + 3] = s[5]; out[o + 4] = s[1]; o = o + 4
    else
      if s[8] == 0 or expires < s[7] then s[7] = expires end
      s[5], s[8] = s[5] + tokens, s[8] + 1
      H[id] = -j
      local new = NEW[j]
      if not new then
        NEW[j] = id
      elseif type(new) == 'table' then
        new[#new + 1] = id
        new[#new + 1] = expiresArg
      else
        NEW[j] = {new, expiresArg, id, expiresArg}
      end
      DIRTY[j] = true
      out[o + 1] = 1; out[o + 2] = expires; o = o + 2
    end
  elseif code == '${OP_SETTLE}' then
    local h = H[id]
    if not s then
      out[o + 1] = 1; out[o + 2] = 0; o = o + 2
    elseif h ~= j and h ~= -j then
      out[o + 1] = 6; out[o + 2] = 1; out[o + 3] = s[2]; out[o + 4] = s[3]; out[o + 5] = s[4]
      out[o + 6] = s[5]; out[o + 7] = s[1]; o = o + 7
    else
      drop(j, s, id, h)
      local p, c, n = s[2] + tonumber(ARGV[a + 2]), s[3] + tonumber(ARGV[a + 3]), s[4] + 1
      s[2], s[3], s[4] = p, c, n
      TOUCH[j] = true
      local at = o + 1
      out[o + 2] = 2; out[o + 3] = p; out[o + 4] = c; out[o + 5] = n; out[o + 6] = s[5]; out[o + 7] = s[1]
      o = o + 7
      local used, max, f = p + c, s[1], s[9]${crossingsWith((p) => `o = o + 1; out[o] = ${p}`)}
      s[9] = f
      out[at] = o - at
    end
  else
    local h = H[id]
    if s and (h == j or h == -j) then
      drop(j, s, id, h)
      out[o + 1] = 1; out[o + 2] = 1; o = o + 2
    else
      if code == '${OP_CANCEL}' and not TB[id] and #id >= ${HOLD_MIN} then
        TB[id] = true
        push(TOMB, j, id)
      end
      out[o + 1] = 1; out[o + 2] = 0; o = o + 2
    end
  end
end
-- Pass 4: write each changed thread back once.
for j = 1, t do
  local s = ST[j]
  if s then
    local key = K[j]
    local refresh = TOUCH[j] and s[6] < now + ${ttl} - ${slack}
    if refresh then s[6], DIRTY[j] = now + ${ttl}, true end
    local g = G[j]
    if g then
      if type(g) == 'table' then redis.call('HDEL', key, unpack(g)) else redis.call('HDEL', key, g) end
    end
    if DIRTY[j] then
      local new = NEW[j]
      if new and NEWGONE[j] then
        -- Holds added and freed by this batch are not written.
        if type(new) ~= 'table' then new = {new, expiresArg} end
        local kept = {}
        for i = 1, #new, 2 do
          if H[new[i]] == -j then kept[#kept + 1] = new[i]; kept[#kept + 1] = new[i + 1] end
        end
        new = kept
      end
      if not new or (type(new) == 'table' and #new == 0) then
        redis.call('HSET', key, 's', pack(s))
      elseif type(new) ~= 'table' then
        redis.call('HSET', key, new, expiresArg, 's', pack(s))
      else
        new[#new + 1] = 's'
        new[#new + 1] = pack(s)
        redis.call('HSET', key, unpack(new))
      end
    end
    if refresh then redis.call('PEXPIRE', key, '${ttl}') end${
      grouped
        ? `
    -- The group's set follows the key's idle expiry: added when created, rescored when pushed forward.
    local gk = GK[j]
    if not gk and refresh then gk = redis.call('HGET', key, 'g') end
    if gk then
      if GK[j] then redis.call('HSET', key, 'g', gk) end
      redis.call('ZADD', gk, int(now), key)
      redis.call('PEXPIRE', gk, '${ttl}')
    end`
        : ''
    }
  end
  local tomb = TOMB[j]
  if tomb then
    if type(tomb) ~= 'table' then tomb = {tomb} end
    local args = {}
    for i = 1, #tomb do args[2 * i - 1] = tomb[i]; args[2 * i] = '-' .. expiresArg end
    redis.call('HSET', K[j], unpack(args))
    -- A key of tombstones only (the thread does not exist yet) lives as long as a hold would.
    if not s then redis.call('PEXPIRE', K[j], '${holdTtl}') end
  end
end
return out
`;
}
