/**
 * The batch script of {@link RedisPolicyLedger}: reserve, settle and release of many calls, each over all
 * the lines of its call, in one EVALSHA (see `policy-scripts.ts` for the key layout).
 */
import { policyCommon } from './policy-lua-common.js';

/** Reserve that reports missing budget lines (the ledger restores them, then reserves again). */
export const POP_RESERVE = 'R';
/** Reserve that creates missing lines at zero. */
export const POP_RESERVE_CREATE = 'C';
export const POP_SETTLE = 'S';
export const POP_RELEASE = 'L';

/**
 * Line kinds: budget or rate meter, priced (nanos counted) or not. In the batch script's arguments the kind
 * is followed by the line's scope (`buser`), so that a line created by the script gets its meta without
 * sending it each call.
 */
export const KIND_BUDGET = 'b';
export const KIND_BUDGET_UNPRICED = 'u';
export const KIND_RATE = 'r';
export const KIND_RATE_UNPRICED = 'q';

/** Arguments before the lines' (code, line count, hold member, hold nanos, hold tokens; settle adds actual nanos, tokens). */
export const HEAD_ARGS = { R: 5, C: 5, S: 7, L: 5 } as const;
/**
 * Arguments per line (whose key, in KEYS, is the hash of its policy, meter and window). Reserve: kind and
 * scope, nanos limit, tokens limit, requests limit (`''` absent), resetsAt (epoch ms, `''`: lifetime),
 * entity. Settle: kind and scope, nanos limit, tokens limit, alert thresholds (percents joined by `,`; `''`:
 * none), entity. Release: kind and scope, entity.
 * The script derives the rest once per line and batch rather than per call: a budget line's override field
 * (`<policy>\0<entity>`, the policy read from its hash key), that it is in its policy's top, and, for a
 * line it creates, its meta (`<scope>|<resetsAt>|<nanos limit>|<tokens limit>`) and key expiry (resetsAt
 * plus `graceMs`).
 */
export const LINE_ARGS = { R: 6, C: 6, S: 5, L: 2 } as const;

/** Values per line standing in replies: spent nanos, used tokens, requests, held nanos, held tokens, holds, nanos/tokens/requests limit (-1: none). */
export const STANDING_VALUES = 9;

/**
 * KEYS: the lines of every operation, in order. ARGV: now, then per operation its code, its line count, the
 * hold's member (see `policy-scripts.ts`), the hold's nanos and tokens, (settle: the actual nanos and
 * tokens), then per line the {@link LINE_ARGS}. Returns one flat array: per operation the length of its
 * reply, then the reply:
 * - reserve: `{1, expiresAt, standing...}` (held on every line), `{2, line, limit (1 nanos, 2 tokens, 3
 *   requests), max, used, reserved, requested, first exhausted (0/1), standing}` (refused: nothing held),
 *   `{3, line...}` (budget lines missing: nothing held or written);
 * - settle: per line `charged (0/1), standing, alerted percent before, percent now` (percents as strings);
 * - release: `{lines freed}`.
 * Whatever the batch size, Redis is called a fixed number of times per batch (lapsed holds, one MGET of
 * every line, one ZMSCORE of the holds settled or released, one HMGET of the overrides, one ZADD and one
 * ZREM of holds, one ZADD per policy's top), plus one SET per line changed: on Redis 7 each call costs about
 * a microsecond and the script's fixed cost several, so this is what a call costs.
 */
// eslint-disable-next-line max-lines-per-function -- one Lua program: its passes share the locals of one script
export function buildPolicyBatchScript(holdsKey: string, lapsedKey: string, overridesKey: string, holdTtlMs: number, graceMs: number): string {
  return `${policyCommon(holdsKey, lapsedKey, overridesKey)}
local now = tonumber(ARGV[1])
local expires = now + ${holdTtlMs}
local expiresArg = int(expires)
local HEAD, PER = {R = 5, C = 5, S = 7, L = 5}, {R = 6, C = 6, S = 5, L = 2}
local ENT = {R = 5, C = 5, S = 4, L = 1}
-- A kind argument ('b' + scope...) as {budget, priced, scope}, parsed once per batch.
local KD = {}
local function kindOf(arg)
  local d = KD[arg]
  if not d then
    local c = sub(arg, 1, 1)
    d = {BUDGET[c] or false, PRICED[c] or false, sub(arg, 2)}
    KD[arg] = d
  end
  return d
end
-- A thresholds argument ('75,90,95') as numbers, parsed once per batch.
local TH = {}
-- Whether a threshold of \`arg\` lies in (before, after]: only then does a settle reply its percents (formatting
-- them costs more than the rest of a line).
local function crossed(arg, before, after)
  local th = TH[arg]
  if not th then
    th = {}
    for x in gmatch(arg, '[^,]+') do th[#th + 1] = tonumber(x) end
    TH[arg] = th
  end
  for i = 1, #th do
    local x = th[i]
    if x > before and x <= after then return true end
  end
  return false
end
-- Pass 1: the lines touched (slot j: hash HK[j], entity EN[j]; LS[n] lists operation n's slots), the
-- holds settles and releases look up, the overrides needed (OVF[j]: slot j's override field).
local HS, HORDER, HK, EN, LS, OVF, POL = {}, {}, {}, {}, {}, {}, {}
local OVN, OVL, LOOKN, LOOK = {}, {}, {}, {}
local OPA = {}
local a, k, t, nops, nargs = 2, 1, 0, 0, #ARGV
local function slotOf(h, e)
  local hs = HS[h]
  if not hs then hs = {}; HS[h] = hs; HORDER[#HORDER + 1] = h end
  local j = hs[e]
  if not j then t = t + 1; j = t; hs[e] = j; HK[j], EN[j] = h, e end
  return j
end
-- Whether any override exists (most deployments have none: then no line looks one up).
local HASOV = redis.call('EXISTS', OVERRIDES) == 1
-- The override field of budget line slot j ('<policy>\\0<entity>'; the policy is the hash key's
-- second-to-last part: policy names hold no ':').
local function overrideOf(j)
  local f = OVF[j]
  if not f then
    local h = HK[j]
    local p = POL[h]
    if not p then p = smatch(h, ':([^:]*):[^:]*$'); POL[h] = p end
    f = p .. '\\0' .. EN[j]
    OVF[j] = f
    if not OVN[f] then OVN[f] = true; OVL[#OVL + 1] = f end
  end
  return f
end
while a <= nargs do
  local code, nl = ARGV[a], tonumber(ARGV[a + 1])
  nops = nops + 1
  OPA[nops] = a
  local per, la, ent = PER[code], a + HEAD[code], ENT[code]
  if code == 'S' or code == 'L' then
    local m = ARGV[a + 2]
    if not LOOKN[m] then LOOKN[m] = true; LOOK[#LOOK + 1] = m end
  end
  local ls = {}
  for i = 0, nl - 1 do
    local b = la + i * per
    local j = slotOf(KEYS[k + i], ARGV[b + ent])
    ls[i + 1] = j
    if HASOV and code ~= 'L' and kindOf(ARGV[b])[1] then overrideOf(j) end
  end
  LS[nops] = ls
  k = k + nl
  a = la + nl * per
end
-- Pass 2: lapsed holds (their lines join the batch), every line (one HMGET per policy, meter and window),
-- the holds looked up, the overrides.
local EXP, GONE = lapsed(now)
local PURGED, NPURGED = {}, #GONE
for i = 1, NPURGED do PURGED[GONE[i]] = true end
for i = 1, #EXP do
  local lines = EXP[i][4]
  for x = 1, #lines, 2 do slotOf(lines[x], lines[x + 1]) end
end
local ST, META, DIRTY, NEW, TOP, OV, FOUND = {}, {}, {}, {}, {}, {}, {}
for x = 1, #HORDER do
  local h = HORDER[x]
  local fields, slots = {}, {}
  for e, j in pairs(HS[h]) do fields[#fields + 1] = e; slots[#slots + 1] = j end
  local vals = redis.call('HMGET', h, unpack(fields))
  for i = 1, #slots do
    local v, j = vals[i], slots[i]
    if v then ST[j], META[j] = decode(v), sub(v, 65) else ST[j] = false end
  end
end
for i = 1, #EXP do
  unhold(EXP[i], function(h, e)
    local j = HS[h][e]
    if ST[j] then DIRTY[j] = true end
    return ST[j]
  end)
end
-- FOUND: 1 a hold in Redis (a lapsed one not purged yet, over the purge limit, still counts as held), 2 a
-- hold added by this batch, 3 a lapsed hold (purged now or before): a settle charges it, freeing nothing.
if #LOOK > 0 then
  local sc = redis.call('ZMSCORE', HOLDS, unpack(LOOK))
  local gone = {}
  for i = 1, #LOOK do
    local m = LOOK[i]
    if PURGED[m] then FOUND[m] = 3 elseif sc[i] then FOUND[m] = 1 else gone[#gone + 1] = m end
  end
  if #gone > 0 then
    local lc = redis.call('ZMSCORE', LAPSED, unpack(gone))
    for i = 1, #gone do if lc[i] then FOUND[gone[i]] = 3 end end
  end
end
if #OVL > 0 then
  local v = redis.call('HMGET', OVERRIDES, unpack(OVL))
  for i = 1, #OVL do OV[OVL[i]] = parseOverride(v[i]) end
end
-- The limits in force of line slot j (override applied to budget lines).
local function limits(kd, b, j)
  local ln, lt = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  if HASOV and kd[1] then
    local o = OV[OVF[j]]
    if o then ln, lt = o[1] or ln, o[2] or lt end
  end
  return ln, lt
end
local out, o = {}, 0
local function standing(s, ln, lt, lr)
  out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5], out[o + 6] = s[1], s[2], s[3], s[4], s[5], s[8]
  out[o + 7], out[o + 8], out[o + 9] = ln or -1, lt or -1, lr or -1
  o = o + 9
end
-- Creates line slot j of a reserve (b: its arguments; kd: its kind) at zero, with its meta and expiry.
local function create(j, b, kd)
  local resets = ARGV[b + 4]
  local s = fresh(resets ~= '' and tonumber(resets) + ${graceMs} or 0)
  ST[j], DIRTY[j], NEW[j] = s, true, true
  META[j] = kd[3] .. '|' .. resets .. '|' .. ARGV[b + 1] .. '|' .. ARGV[b + 2]
  if kd[1] then TOP[j] = true end
  return s
end
local NEWH, NEWGONE, LGONE = {}, {}, {}
-- Forgets hold m; returns how it was found (see FOUND), or nil.
local function drop(m)
  local f = FOUND[m]
  if not f then return nil end
  FOUND[m] = nil
  if f == 1 then GONE[#GONE + 1] = m elseif f == 2 then NEWGONE[m] = true else LGONE[#LGONE + 1] = m end
  return f
end
-- A reserve's limits per line, between its check and its hold (scratch: every reserve overwrites what it reads).
local LN, LT, LR = {}, {}, {}
local function reserve(code, a, ls, nl)
  local m, hn, ht = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local la = a + 5
  if code == 'R' then
    local miss
    for i = 0, nl - 1 do
      if kindOf(ARGV[la + i * 6])[1] and not ST[ls[i + 1]] then
        if not miss then miss = {} end
        miss[#miss + 1] = i + 1
      end
    end
    if miss then
      out[o + 1], out[o + 2] = #miss + 1, 3
      o = o + 2
      for i = 1, #miss do o = o + 1; out[o] = miss[i] end
      return
    end
  end
  for i = 0, nl - 1 do
    local b = la + i * 6
    local j = ls[i + 1]
    local kd = kindOf(ARGV[b])
    local s = ST[j] or fresh()
    local ln, lt = limits(kd, b, j)
    local lr = tonumber(ARGV[b + 3])
    LN[i], LT[i], LR[i] = ln, lt, lr
    local r
    if ln and kd[2] and s[1] + s[4] + hn > ln then r = {1, ln, s[1], s[4], hn}
    elseif lt and s[2] + s[5] + ht > lt then r = {2, lt, s[2], s[5], ht}
    elseif lr and s[3] + s[8] + 1 > lr then r = {3, lr, s[3], s[8], 1} end
    if r then
      if not ST[j] then s = create(j, b, kd) end
      local first = 0
      if s[9] == 0 then s[9], first, DIRTY[j] = 1, 1, true end
      out[o + 1], out[o + 2], out[o + 3] = 17, 2, i + 1
      out[o + 4], out[o + 5], out[o + 6], out[o + 7], out[o + 8] = r[1], r[2], r[3], r[4], r[5]
      out[o + 9] = first
      o = o + 9
      standing(s, ln, lt, lr)
      return
    end
  end
  out[o + 1], out[o + 2], out[o + 3] = 2 + 9 * nl, 1, expires
  o = o + 3
  for i = 0, nl - 1 do
    local b = la + i * 6
    local j = ls[i + 1]
    local kd = kindOf(ARGV[b])
    local s = ST[j] or create(j, b, kd)
    if kd[2] then s[4] = s[4] + hn end
    s[5], s[8] = s[5] + ht, s[8] + 1
    DIRTY[j] = true
    standing(s, LN[i], LT[i], LR[i])
  end
  FOUND[m] = 2
  NEWH[#NEWH + 1] = m
end
local function settle(a, ls, nl)
  local hn, ht, an, at = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local found = drop(ARGV[a + 2])
  local la = a + 7
  out[o + 1] = 12 * nl
  o = o + 1
  for i = 0, nl - 1 do
    local b = la + i * 5
    local j = ls[i + 1]
    local kd = kindOf(ARGV[b])
    local s = ST[j]
    local ln, lt = limits(kd, b, j)
    local before, after = 0, 0
    local charged = found and s
    if charged then
      if found ~= 3 then
        if kd[2] then s[4] = s[4] - hn end
        s[5], s[8] = s[5] - ht, s[8] - 1
      end
      if kd[2] then s[1] = s[1] + an end
      s[2], s[3] = s[2] + at, s[3] + 1
      DIRTY[j] = true
      if kd[1] then
        before, after = s[7], percent(s, ln, lt)
        if after > before then s[7] = after end
        TOP[j] = true
      end
    end
    out[o + 1] = charged and 1 or 0
    o = o + 1
    standing(s or fresh(), ln, lt, nil)
    if after > before and crossed(ARGV[b + 3], before, after) then
      out[o + 1], out[o + 2] = fmt('%.17g', before), fmt('%.17g', after)
    else
      out[o + 1], out[o + 2] = 0, 0 -- no threshold crossed
    end
    o = o + 2
  end
end
local function release(a, ls, nl)
  local hn, ht = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local freed = 0
  local f = drop(ARGV[a + 2])
  if f == 1 or f == 2 then
    for i = 0, nl - 1 do
      local j = ls[i + 1]
      local s = ST[j]
      if s then
        if kindOf(ARGV[a + 5 + 2 * i])[2] then s[4] = s[4] - hn end
        s[5], s[8] = s[5] - ht, s[8] - 1
        DIRTY[j] = true
        freed = freed + 1
      end
    end
  end
  out[o + 1], out[o + 2] = 1, freed
  o = o + 2
end
-- Pass 3: the operations, in order.
for n = 1, nops do
  local a, ls = OPA[n], LS[n]
  local code, nl = ARGV[a], tonumber(ARGV[a + 1])
  if code == 'S' then settle(a, ls, nl)
  elseif code == 'L' then release(a, ls, nl)
  else reserve(code, a, ls, nl) end
end
-- Pass 4: the changed lines written (one HSET per hash), holds added and removed, each policy's top updated once.
local TOPS, TOPX = {}, {}
for x = 1, #HORDER do
  local h = HORDER[x]
  local args, n, expiry = {}, 0, 0
  for e, j in pairs(HS[h]) do
    local s = ST[j]
    if s and DIRTY[j] then
      args[n + 1], args[n + 2] = e, encode(s, META[j])
      n = n + 2
      if NEW[j] and s[6] > 0 then expiry = s[6] end
      if TOP[j] then
        local tk = h .. ':top'
        local z = TOPS[tk]
        if not z then z = {}; TOPS[tk] = z end
        z[#z + 1] = s[1] + s[2] / (s[2] + 1) -- a number: Redis formats it (as %.17g) cheaper than Lua
        z[#z + 1] = e
        if s[6] > 0 then TOPX[tk] = s[6] end
      end
    end
  end
  if n > 0 then redis.call('HSET', h, unpack(args)) end
  expireAt(h, expiry, now)
end
if #NEWH > 0 then
  local args, n = {}, 0
  for i = 1, #NEWH do
    local m = NEWH[i]
    if not NEWGONE[m] then args[n + 1], args[n + 2] = expiresArg, m; n = n + 2 end
  end
  if n > 0 then redis.call('ZADD', HOLDS, unpack(args)) end
end
if #GONE > 0 then redis.call('ZREM', HOLDS, unpack(GONE)) end
if NPURGED > 0 then remember({unpack(GONE, 1, NPURGED)}, now) end
if #LGONE > 0 then redis.call('ZREM', LAPSED, unpack(LGONE)) end
for key, z in pairs(TOPS) do
  redis.call('ZADD', key, unpack(z))
  if TOPX[key] then expireAt(key, TOPX[key], now) end
end
return out
`;
}
