/**
 * The single-operation scripts of the Redis ledger (usage, setBudget, endThread, seed), built from the
 * parts {@link scriptParts} compiles for one configuration. See `scripts.ts` for the key layout.
 */
import type { ScriptParts } from './script-parts.js';

/** Builds the single-operation scripts. */
export function buildThreadScripts(parts: ScriptParts): { usage: string; setBudget: string; endThread: string; seed: string } {
  return { usage: usageScript(parts), setBudget: setBudgetScript(parts), endThread: endThreadScript(parts), seed: seedScript(parts) };
}

/** ARGV: now. Returns `{}` when the thread does not exist, else `{p, c, n, r, m}` with live holds only. */
function usageScript({ common }: ScriptParts): string {
  return `${common}
local key, now = KEYS[1], tonumber(ARGV[1])
local v = redis.call('HGET', key, 's')
if not v then return {} end
local s = {sunpack(FMT, v)}
if s[8] > 0 and now >= s[7] then
  local sum, count, earliest = purge(key, now)
  s[5], s[8], s[7] = s[5] - sum, s[8] - count, earliest
  redis.call('HSET', key, 's', pack(s))
end
return {s[2], s[3], s[4], s[5], s[1]}
`;
}

/**
 * ARGV: max, now. Creates the thread if needed. Returns `{p, c, n, r, m, fired...}`: lowering the
 * maximum can cross thresholds, which then fire once like any other crossing.
 */
function setBudgetScript({ common, ttl, grouped, crossingsWith }: ScriptParts): string {
  return `${common}
local key = KEYS[1]
local max, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HGET', key, 's')
local s
if v then
  s = {sunpack(FMT, v)}
  if s[8] > 0 and now >= s[7] then
    local sum, count, earliest = purge(key, now)
    s[5], s[8], s[7] = s[5] - sum, s[8] - count, earliest
  end
else
  s = {max, 0, 0, 0, 0, 0, 0, 0, 0}
end
local reply = {s[2], s[3], s[4], s[5], max}
local used, f = s[2] + s[3], s[9]${crossingsWith((p) => `reply[#reply + 1] = ${p}`)}
s[1], s[6], s[9] = max, now + ${ttl}, f
redis.call('HSET', key, 's', pack(s))
redis.call('PEXPIRE', key, '${ttl}')${
    grouped
      ? `
-- Counted in its group (an operator's setBudget is not refused for a full group).
local gk = ARGV[3]
if gk ~= '' then
  redis.call('HSET', key, 'g', gk)
  redis.call('ZADD', gk, fmt('%d', now), key)
  redis.call('PEXPIRE', gk, '${ttl}')
end`
      : ''
  }
return reply
`;
}

/** No ARGV. Returns `{}` when the thread does not exist, else `{p, c, n, m}`; deletes its key. */
function endThreadScript({ common, grouped }: ScriptParts): string {
  return `${common}
local key = KEYS[1]
local v = redis.call('HGET', key, 's')
if not v then return {} end
local s = {sunpack(FMT, v)}${
    grouped
      ? `
local gk = redis.call('HGET', key, 'g')
if gk then redis.call('ZREM', gk, key) end`
      : ''
  }
redis.call('DEL', key)
return {s[2], s[3], s[4], s[1]}
`;
}

/**
 * ARGV: now, prompt, completion, requests (and the group key when grouped). Recreates a thread that is
 * not in Redis with the spend recorded elsewhere (thresholds reached count as fired, silently). Returns
 * `{1}` when the thread exists (nothing done), `{2}` when created, `{0, count, limit}` when its group is
 * full (nothing created).
 */
function seedScript({ common, max, ttl, grouped, groupLimit, groupWindow, crossingsWith }: ScriptParts): string {
  return `${common}
local key, now = KEYS[1], tonumber(ARGV[1])
if redis.call('HEXISTS', key, 's') == 1 then return {1} end${
    grouped
      ? `
local gk = ARGV[5]
if gk ~= '' then
  redis.call('ZREMRANGEBYSCORE', gk, '-inf', '(' .. int(now - ${groupWindow}))
  local n = redis.call('ZCARD', gk)
  if n >= ${groupLimit} then return {0, n, ${groupLimit}} end
  redis.call('ZADD', gk, int(now), key)
  redis.call('PEXPIRE', gk, '${ttl}')
  redis.call('HSET', key, 'g', gk)
end`
      : ''
  }
local p, c, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local used, max, f = p + c, ${max}, 0${crossingsWith(() => '')}
redis.call('HSET', key, 's', pack({max, p, c, n, 0, now + ${ttl}, 0, 0, f}))
redis.call('PEXPIRE', key, '${ttl}')
return {2}
`;
}
