/**
 * Lua scripts of {@link RedisBudgetLedger}. Each runs atomically in Redis, so reserve, settle and release
 * are race-free across every process sharing the Redis.
 *
 * Layout per thread (both keys carry the thread id as a hash tag, so they share a cluster slot):
 * - hash (`<prefix>{<thread>}:b`). Fields: `m` maximum, `p` prompt tokens, `c` completion tokens, `n`
 *   requests, `r` tokens held by holds, `k` number of holds, `x` when both keys expire (epoch ms), `h:<id>`
 *   tokens and `e:<id>` expiry of hold `<id>`, and `t:<percent>` once that threshold has fired. The hash
 *   exists exactly when `m` is set.
 * - sorted set (`<prefix>{<thread>}:h`): one member per hold (the reservation id) scored by its expiry,
 *   plus the sentinel `~` scored `+inf`, which keeps the key (and so its TTL) alive while the thread has
 *   no holds.
 *
 * Reserve, settle and release take any number of operations per call (KEYS = hash, set, hash, set, ...):
 * the ledger sends the calls made in the same tick as one EVALSHA, because on Redis 7 the fixed cost of
 * running a script is several times that of a plain command.
 *
 * Cost matters here (the target is 50 000 reserve+settle pairs per second): every `redis.call` costs
 * about as much as the rest of a script, so scripts read what they need with one HMGET, work on locals
 * and write back with one HSET; the configuration is compiled into the script text instead of being
 * passed (and parsed) on every call; expired holds are purged only when they could matter (a reserve
 * that would otherwise be refused, a thread with many holds, or a usage read); and the keys' idle expiry
 * is pushed forward only once `slack` of it has elapsed. Every argument handed to `redis.call` is a
 * string: Redis 7 spends about a microsecond formatting each Lua number argument, several times what
 * `string.format('%d', n)` costs (and Lua's own `tostring` would switch to exponent notation above 1e14).
 */

/** What the scripts need to know about a ledger's configuration (compiled into their text). */
export interface LedgerScriptConfig {
  /** Maximum of a thread created by reserve. */
  defaultMax: number;
  /** Lifetime of a hold, ms. */
  holdTtlMs: number;
  /** Idle expiry of a thread's keys, ms. */
  threadTtlMs: number;
  /** The keys' expiry is pushed forward once less than `threadTtlMs - slackMs` of it is left. */
  slackMs: number;
  /** Threshold percents, ascending. */
  thresholds: readonly number[];
}

/** The Lua source of each ledger operation. */
export interface LedgerScripts {
  reserve: string;
  settle: string;
  release: string;
  usage: string;
  setBudget: string;
  endThread: string;
}

/** Purge when a thread holds at least this many holds, even if nothing is refused. */
const PURGE_AT_HOLDS = 256;

const COMMON = `
local fmt = string.format
local function int(x) return fmt('%d', x) end
-- Removes the holds that expired by \`now\` (a string); returns their tokens and count.
local function purge(b, h, now)
  local ids = redis.call('ZRANGEBYSCORE', h, '-inf', now)
  local n = #ids
  if n == 0 then return 0, 0 end
  local sum = 0
  for i = 1, n, 500 do
    local tf, all = {}, {}
    for j = i, math.min(i + 499, n) do
      tf[#tf + 1] = 'h:' .. ids[j]
      all[#all + 1] = 'h:' .. ids[j]
      all[#all + 1] = 'e:' .. ids[j]
    end
    local v = redis.call('HMGET', b, unpack(tf))
    for j = 1, #v do sum = sum + (tonumber(v[j]) or 0) end
    redis.call('HDEL', b, unpack(all))
  end
  redis.call('ZREMRANGEBYSCORE', h, '-inf', now)
  return sum, n
end
-- Relative (PEXPIRE, not PEXPIREAT): \`now\` is the callers' clock, not necessarily Redis's own.
local function expire(b, h, ms)
  redis.call('PEXPIRE', b, ms)
  redis.call('PEXPIRE', h, ms)
end
`;

function luaNumber(field: string, n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`${field}: ${n} is not a finite number`);
  return String(n);
}

/** Builds the scripts for one configuration. */
export function buildLedgerScripts(config: LedgerScriptConfig): LedgerScripts {
  const max = luaNumber('defaultMax', config.defaultMax);
  const holdTtl = luaNumber('holdTtlMs', config.holdTtlMs);
  const ttl = luaNumber('threadTtlMs', config.threadTtlMs);
  const slack = luaNumber('slackMs', config.slackMs);
  const percents = config.thresholds.map((p) => luaNumber('thresholds', p));
  const thresholdFields = percents.map((p) => `, 't:${p}'`).join('');
  // Unrolled threshold checks: \`v[base + i]\` is the 't:' field of threshold i. A first crossing appends
  // the percent to \`reply\` and marks the field in \`out\` (whose length is \`o\`).
  const crossings = (base: number): string =>
    percents
      .map(
        (p, i) => `
if not v[${base + i + 1}] and used * 100 >= ${p} * max then
  reply[#reply + 1] = '${p}'
  out[o + 1] = 't:${p}'; out[o + 2] = '1'; o = o + 2
end`,
      )
      .join('');

  /**
   * Batch driver: KEYS holds (hash, holds) per operation, ARGV is `now` followed by `width` values per
   * operation; returns one reply per operation, in order. Operations run one after another inside the one
   * atomic script, so batching changes nothing but the cost (one EVALSHA for many calls).
   */
  const batch = (call: string, width: number): string => `
local nowArg = ARGV[1]
local now = tonumber(nowArg)
local replies = {}
for i = 1, #KEYS / 2 do
  local j, a = 2 * i - 1, 2 + (i - 1) * ${width}
  replies[i] = ${call}
end
return replies
`;

  /**
   * Per operation: tokens, reservation id. Returns `{1, expiresAt, used, held, max}` (held includes the
   * new hold) or `{0, used, held, max}` when the thread cannot afford it (nothing held). Creates the
   * thread with the default maximum if needed.
   */
  const reserve = `${COMMON}
local function reserve(b, h, tokenArg, id, now, nowArg)
  local tokens = tonumber(tokenArg)
  local v = redis.call('HMGET', b, 'm', 'p', 'c', 'r', 'k', 'x')
  local out, o = {}, 0
  local max, r, k, x
  if not v[1] then
    redis.call('DEL', h) -- holds left over from a thread whose hash expired
    redis.call('ZADD', h, 'inf', '~')
    max, r, k, x = ${max}, 0, 0, 0
    out[1] = 'm'; out[2] = '${max}'; o = 2
  else
    max, r, k, x = tonumber(v[1]), tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]) or 0
  end
  local used = (tonumber(v[2]) or 0) + (tonumber(v[3]) or 0)
  -- Expired holds only matter when they would refuse this one (or pile up): purge them only then.
  local purged = false
  if k > 0 and (used + r + tokens > max or k >= ${PURGE_AT_HOLDS}) then
    local sum, count = purge(b, h, nowArg)
    if count > 0 then r, k, purged = r - sum, k - count, true end
  end
  local refresh = x < now + ${ttl} - ${slack}
  if refresh then out[o + 1] = 'x'; out[o + 2] = int(now + ${ttl}); o = o + 2 end
  if used + r + tokens > max then
    if purged then out[o + 1] = 'r'; out[o + 2] = int(r); out[o + 3] = 'k'; out[o + 4] = int(k); o = o + 4 end
    if o > 0 then redis.call('HSET', b, unpack(out)) end
    if refresh then expire(b, h, '${ttl}') end
    return {0, used, r, max}
  end
  local expires = now + ${holdTtl}
  local expiresArg = int(expires)
  redis.call('ZADD', h, expiresArg, id)
  out[o + 1] = 'r'; out[o + 2] = int(r + tokens); out[o + 3] = 'k'; out[o + 4] = int(k + 1)
  out[o + 5] = 'h:' .. id; out[o + 6] = tokenArg; out[o + 7] = 'e:' .. id; out[o + 8] = expiresArg
  redis.call('HSET', b, unpack(out))
  if refresh then expire(b, h, '${ttl}') end
  return {1, expires, used, r + tokens, max}
end
${batch('reserve(KEYS[j], KEYS[j + 1], ARGV[a], ARGV[a + 1], now, nowArg)', 2)}`;

  /**
   * Per operation: reservation id, prompt, completion. Returns `{0}` when the thread does not exist,
   * `{1, p, c, n, r, m}` when the hold was already settled, released or expired (nothing charged), and
   * `{2, p, c, n, r, m, fired...}` when charged, where `fired` lists the threshold percents (strings)
   * crossed for the first time anywhere.
   */
  const settle = `${COMMON}
local function settle(b, h, id, promptArg, completionArg, now)
  local hf, ef = 'h:' .. id, 'e:' .. id
  local v = redis.call('HMGET', b, 'm', 'p', 'c', 'n', 'r', 'k', 'x', hf, ef${thresholdFields})
  if not v[1] then return {0} end
  local max, p, c, n = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
  local r, k = tonumber(v[5]) or 0, tonumber(v[6]) or 0
  local tokens = tonumber(v[8])
  if not tokens then return {1, p, c, n, r, max} end
  redis.call('ZREM', h, id)
  redis.call('HDEL', b, hf, ef)
  r, k = r - tokens, k - 1
  if (tonumber(v[9]) or 0) <= now then
    redis.call('HSET', b, 'r', int(r), 'k', int(k))
    return {1, p, c, n, r, max}
  end
  p, c, n = p + tonumber(promptArg), c + tonumber(completionArg), n + 1
  local out = {'r', int(r), 'k', int(k), 'p', int(p), 'c', int(c), 'n', int(n)}
  local o = 10
  local reply = {2, p, c, n, r, max}
  local used = p + c${crossings(9)}
  local refresh = (tonumber(v[7]) or 0) < now + ${ttl} - ${slack}
  if refresh then out[o + 1] = 'x'; out[o + 2] = int(now + ${ttl}) end
  redis.call('HSET', b, unpack(out))
  if refresh then expire(b, h, '${ttl}') end
  return reply
end
${batch('settle(KEYS[j], KEYS[j + 1], ARGV[a], ARGV[a + 1], ARGV[a + 2], now)', 3)}`;

  /** Per operation: reservation id. Returns 1 if a hold was freed, else 0. Never creates keys. */
  const release = `${COMMON}
local function release(b, h, id)
  local hf = 'h:' .. id
  local v = redis.call('HMGET', b, 'r', 'k', hf)
  local tokens = tonumber(v[3])
  if not tokens then return 0 end
  redis.call('ZREM', h, id)
  redis.call('HDEL', b, hf, 'e:' .. id)
  redis.call('HSET', b, 'r', int((tonumber(v[1]) or 0) - tokens), 'k', int((tonumber(v[2]) or 0) - 1))
  return 1
end
${batch('release(KEYS[j], KEYS[j + 1], ARGV[a])', 1)}`;

  /** ARGV: now. Returns `{}` when the thread does not exist, else `{p, c, n, r, m}` with live holds only. */
  const usage = `${COMMON}
local b, h = KEYS[1], KEYS[2]
local v = redis.call('HMGET', b, 'm', 'p', 'c', 'n', 'r', 'k')
if not v[1] then return {} end
local r, k = tonumber(v[5]) or 0, tonumber(v[6]) or 0
if k > 0 then
  local sum, count = purge(b, h, ARGV[1])
  if count > 0 then
    r, k = r - sum, k - count
    redis.call('HSET', b, 'r', int(r), 'k', int(k))
  end
end
return {tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0, r, tonumber(v[1])}
`;

  /**
   * ARGV: max, now. Creates the thread if needed. Returns `{p, c, n, r, m, fired...}`: lowering the
   * maximum can cross thresholds, which then fire once like any other crossing.
   */
  const setBudget = `${COMMON}
local b, h = KEYS[1], KEYS[2]
local max, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', b, 'm', 'p', 'c', 'n', 'r', 'k'${thresholdFields})
local p, c, n = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
local r, k = tonumber(v[5]) or 0, tonumber(v[6]) or 0
if not v[1] then
  redis.call('DEL', h)
  redis.call('ZADD', h, 'inf', '~')
  r, k = 0, 0
elseif k > 0 then
  local sum, count = purge(b, h, ARGV[2])
  r, k = r - sum, k - count
end
local out = {'m', ARGV[1], 'r', int(r), 'k', int(k), 'x', int(now + ${ttl})}
local o = 8
local reply = {p, c, n, r, max}
local used = p + c${crossings(6)}
redis.call('HSET', b, unpack(out))
expire(b, h, '${ttl}')
return reply
`;

  /** No ARGV. Returns `{}` when the thread does not exist, else `{p, c, n, m}`; deletes both keys. */
  const endThread = `${COMMON}
local b, h = KEYS[1], KEYS[2]
local v = redis.call('HMGET', b, 'p', 'c', 'n', 'm')
if not v[4] then return {} end
redis.call('DEL', b, h)
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4])}
`;

  return { reserve, settle, release, usage, setBudget, endThread };
}
