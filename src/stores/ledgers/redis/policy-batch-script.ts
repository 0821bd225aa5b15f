/**
 * The batch script of {@link RedisPolicyLedger}: reserve, settle and release of many calls, each over all
 * the lines of its call, in one EVALSHA (see `policy-scripts.ts` for the key layout).
 */

/** Reserve that reports missing budget lines (the ledger restores them, then reserves again). */
export const POP_RESERVE = 'R';
/** Reserve that creates missing lines at zero. */
export const POP_RESERVE_CREATE = 'C';
export const POP_SETTLE = 'S';
export const POP_RELEASE = 'L';

/** Line kinds: budget or rate meter, priced (nanos counted) or not. */
export const KIND_BUDGET = 'b';
export const KIND_BUDGET_UNPRICED = 'u';
export const KIND_RATE = 'r';
export const KIND_RATE_UNPRICED = 'q';

/** Arguments before the lines' (code, line count, id, hold nanos, hold tokens; settle adds actual nanos, tokens). */
export const HEAD_ARGS = { R: 5, C: 5, S: 7, L: 5 } as const;
/**
 * Arguments per line. Reserve: kind, nanos limit, tokens limit, requests limit (`''` absent), override
 * field (`''` for rate lines), meta, key expiry (epoch ms, `''`: none), top key, entity (`''` for rate
 * lines). Settle: kind, nanos limit, tokens limit, override field, top key, entity. Release: kind.
 */
export const LINE_ARGS = { R: 9, C: 9, S: 6, L: 1 } as const;

/** Values per line standing in replies: spent nanos, used tokens, requests, held nanos, held tokens, holds, nanos/tokens/requests limit (-1: none). */
export const STANDING_VALUES = 9;

/** Lua helpers shared by the policy scripts (pack/unpack of a line's state, purge of expired holds, overrides). */
export function policyCommon(holdMin: number): string {
  return `
local fmt, sub, smatch, spack, sunpack = string.format, string.sub, string.match, struct.pack, struct.unpack
local FMT = '>dddddddI4I4'
local function int(x) return fmt('%d', x) end
local function pack(s) return spack(FMT, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]) end
local function fresh() return {0, 0, 0, 0, 0, 0, 0, 0, 0} end
-- Deletes the holds of \`key\` expired by \`now\`; returns their nanos, tokens, count and the earliest
-- expiry of the holds left (0 if none). Forgets them in \`F\` (field -> value) when given.
local function purge(key, now, F)
  local all = redis.call('HGETALL', key)
  local n, t, c, earliest, gone, ng = 0, 0, 0, 0, {}, 0
  for i = 1, #all, 2 do
    local f = all[i]
    if #f >= ${holdMin} then
      local e = tonumber(all[i + 1])
      if e <= now then
        local hn, ht = smatch(f, ':(%d+):(%d+)$')
        n, t, c = n + tonumber(hn), t + tonumber(ht), c + 1
        ng = ng + 1; gone[ng] = f
        if F then F[f] = nil end
      elseif earliest == 0 or e < earliest then
        earliest = e
      end
    end
  end
  for i = 1, ng, 500 do redis.call('HDEL', key, unpack(gone, i, math.min(i + 499, ng))) end
  return n, t, c, earliest
end
-- Purges \`s\` (the state of \`key\`) if a hold may have expired; true if it changed.
local function purged(key, s, now, F)
  if s[8] > 0 and now >= s[6] then
    local n, t, c, earliest = purge(key, now, F)
    s[4], s[5], s[8], s[6] = s[4] - n, s[5] - t, s[8] - c, earliest
    return true
  end
  return false
end
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
`;
}

/**
 * KEYS: the lines of every operation, in order. ARGV: now, then per operation its code, its line count, the
 * reservation id, the hold's nanos and tokens, (settle: the actual nanos and tokens), then per line the
 * {@link LINE_ARGS}. Returns one flat array: per operation the length of its reply, then the reply:
 * - reserve: `{1, expiresAt, standing...}` (held on every line), `{2, line, limit (1 nanos, 2 tokens, 3
 *   requests), max, used, reserved, requested, first exhausted (0/1), standing}` (refused: nothing held),
 *   `{3, line...}` (budget lines missing: nothing held or written);
 * - settle: per line `charged (0/1), standing, alerted percent before, percent now` (percents as strings);
 * - release: `{holds freed}`.
 * Lines of one batch are read once (state and the holds looked up, one HMGET), and written once.
 */
// eslint-disable-next-line max-lines-per-function -- one Lua program: its passes share the locals of one script
export function buildPolicyBatchScript(holdMin: number, holdTtlMs: number, overridesKey: string): string {
  return `${policyCommon(holdMin)}
local now = tonumber(ARGV[1])
local expires = now + ${holdTtlMs}
local expiresArg = int(expires)
local HEAD, PER = {R = 5, C = 5, S = 7, L = 5}, {R = 9, C = 9, S = 6, L = 1}
local function budget(kind) return kind == 'b' or kind == 'u' end
local function priced(kind) return kind == 'b' or kind == 'r' end
local function fieldOf(id, kind, hn, ht)
  if priced(kind) then return id .. ':' .. hn .. ':' .. ht end
  return id .. ':0:' .. ht
end
-- Pass 1: the lines touched (slots), the holds settles and releases look up, the overrides needed.
local slot, K, LOOK, OVN, OVL = {}, {}, {}, {}, {}
local OPA, OPK = {}, {}
local a, k, t, nops, nargs = 2, 1, 0, 0, #ARGV
while a <= nargs do
  local code, nl = ARGV[a], tonumber(ARGV[a + 1])
  nops = nops + 1
  OPA[nops], OPK[nops] = a, k
  local id, hn, ht = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local per, la = PER[code], a + HEAD[code]
  for i = 0, nl - 1 do
    local key = KEYS[k + i]
    local j = slot[key]
    if not j then t = t + 1; j = t; slot[key] = j; K[j] = key end
    local b = la + i * per
    local kind = ARGV[b]
    if code == 'S' or code == 'L' then
      local l = LOOK[j]
      local f = fieldOf(id, kind, hn, ht)
      if not l then LOOK[j] = {f} else l[#l + 1] = f end
    end
    if code ~= 'L' and budget(kind) then
      local ov = ARGV[b + 4]
      if code == 'S' then ov = ARGV[b + 3] end
      if not OVN[ov] then OVN[ov] = true; OVL[#OVL + 1] = ov end
    end
  end
  k = k + nl
  a = la + nl * per
end
-- Pass 2: read each line once (purging its expired holds if it may have any), and the overrides.
local ST, F, DIRTY, PEND, NEW, TOP, OV = {}, {}, {}, {}, {}, {}, {}
for j = 1, t do
  local key, look = K[j], LOOK[j]
  local v
  if look then v = redis.call('HMGET', key, 's', unpack(look)) else v = redis.call('HMGET', key, 's') end
  local fj = {}
  if look then for i = 1, #look do if v[i + 1] then fj[look[i]] = v[i + 1] end end end
  F[j] = fj
  if v[1] then
    local s = {sunpack(FMT, v[1])}
    ST[j] = s
    if purged(key, s, now, fj) then DIRTY[j] = true end
  else
    ST[j] = false
  end
end
if #OVL > 0 then
  local v = redis.call('HMGET', '${overridesKey}', unpack(OVL))
  for i = 1, #OVL do OV[OVL[i]] = parseOverride(v[i]) end
end
-- The limits in force of a line (override applied to budget lines).
local function limits(kind, b, ovAt)
  local ln, lt = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  if budget(kind) then
    local o = OV[ARGV[b + ovAt]]
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
local function create(j, b)
  local s = fresh()
  ST[j], NEW[j], DIRTY[j] = s, b, true
  if ARGV[b + 8] ~= '' then TOP[j] = {ARGV[b + 7], ARGV[b + 8]} end
  return s
end
local function pend(j, f, v)
  local p = PEND[j]
  if not p then p = {}; PEND[j] = p end
  p[f] = v
end
-- Frees hold \`f\` of line slot j (state s) if it is there; true if it was.
local function drop(j, s, f, kind, hn, ht)
  local fj = F[j]
  if not s or not fj[f] then return false end
  fj[f] = nil
  pend(j, f, false)
  if priced(kind) then s[4] = s[4] - hn end
  s[5], s[8] = s[5] - ht, s[8] - 1
  DIRTY[j] = true
  return true
end
local function reserve(code, a, k, nl)
  local id, hn, ht = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local la = a + 5
  if code == 'R' then
    local miss
    for i = 0, nl - 1 do
      if budget(ARGV[la + i * 9]) and not ST[slot[KEYS[k + i]]] then
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
    local b = la + i * 9
    local j = slot[KEYS[k + i]]
    local kind = ARGV[b]
    local s = ST[j] or fresh()
    local ln, lt = limits(kind, b, 4)
    local lr = tonumber(ARGV[b + 3])
    local r
    if ln and priced(kind) and s[1] + s[4] + hn > ln then r = {1, ln, s[1], s[4], hn}
    elseif lt and s[2] + s[5] + ht > lt then r = {2, lt, s[2], s[5], ht}
    elseif lr and s[3] + s[8] + 1 > lr then r = {3, lr, s[3], s[8], 1} end
    if r then
      if not ST[j] then s = create(j, b) end
      local first = 0
      if s[9] == 0 then s[9], first, DIRTY[j] = 1, 1, true end
      out[o + 1], out[o + 2], out[o + 3] = 8 + 9, 2, i + 1
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
    local b = la + i * 9
    local j = slot[KEYS[k + i]]
    local kind = ARGV[b]
    local s = ST[j] or create(j, b)
    local f = fieldOf(id, kind, ARGV[a + 3], ARGV[a + 4])
    if priced(kind) then s[4] = s[4] + hn end
    s[5], s[8] = s[5] + ht, s[8] + 1
    if s[8] == 1 or expires < s[6] then s[6] = expires end
    F[j][f] = expiresArg
    pend(j, f, expiresArg)
    DIRTY[j] = true
    local ln, lt = limits(kind, b, 4)
    standing(s, ln, lt, tonumber(ARGV[b + 3]))
  end
end
local function settle(a, k, nl)
  local hn, ht, an, at = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local la = a + 7
  out[o + 1] = 12 * nl
  o = o + 1
  for i = 0, nl - 1 do
    local b = la + i * 6
    local j = slot[KEYS[k + i]]
    local kind = ARGV[b]
    local s = ST[j]
    local ln, lt = limits(kind, b, 3)
    local before, after = 0, 0
    local charged = drop(j, s, fieldOf(ARGV[a + 2], kind, ARGV[a + 3], ARGV[a + 4]), kind, hn, ht)
    if charged then
      if priced(kind) then s[1] = s[1] + an end
      s[2], s[3] = s[2] + at, s[3] + 1
      if budget(kind) then
        before, after = s[7], percent(s, ln, lt)
        if after > before then s[7] = after end
        if ARGV[b + 5] ~= '' then TOP[j] = {ARGV[b + 4], ARGV[b + 5]} end
      end
    end
    out[o + 1] = charged and 1 or 0
    o = o + 1
    standing(s or fresh(), ln, lt, nil)
    out[o + 1], out[o + 2] = fmt('%.17g', before), fmt('%.17g', after)
    o = o + 2
  end
end
local function release(a, k, nl)
  local id, hn, ht = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local freed = 0
  for i = 0, nl - 1 do
    local j = slot[KEYS[k + i]]
    local kind = ARGV[a + 5 + i]
    if drop(j, ST[j], fieldOf(id, kind, ARGV[a + 3], ARGV[a + 4]), kind, hn, ht) then freed = freed + 1 end
  end
  out[o + 1], out[o + 2] = 1, freed
  o = o + 2
end
-- Pass 3: the operations, in order.
for n = 1, nops do
  local a, k = OPA[n], OPK[n]
  local code, nl = ARGV[a], tonumber(ARGV[a + 1])
  if code == 'S' then settle(a, k, nl)
  elseif code == 'L' then release(a, k, nl)
  else reserve(code, a, k, nl) end
end
-- Pass 4: write each changed line once (and its place in its policy's top).
for j = 1, t do
  local s = ST[j]
  if s and DIRTY[j] then
    local key = K[j]
    local add, del = {'s', pack(s)}, {}
    local p = PEND[j]
    if p then
      for f, v in pairs(p) do
        if v then add[#add + 1] = f; add[#add + 1] = v else del[#del + 1] = f end
      end
    end
    local b = NEW[j]
    if b then add[#add + 1] = 'm'; add[#add + 1] = ARGV[b + 5] end
    if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    redis.call('HSET', key, unpack(add))
    local exp = b and ARGV[b + 6] or ''
    if exp ~= '' then redis.call('PEXPIREAT', key, exp) end
    local top = TOP[j]
    if top then
      redis.call('ZADD', top[1], fmt('%.17g', s[1] + s[2] / (s[2] + 1)), top[2])
      if exp ~= '' then redis.call('PEXPIREAT', top[1], exp) end
    end
  end
end
return out
`;
}
