import { HOLD_MIN, STATE_FORMAT } from './ledger-state.js';

/** What the scripts need to know about a ledger's configuration (compiled into their text). */
export interface LedgerScriptConfig {
  /** Maximum of a thread created by reserve. */
  defaultMax: number;
  /** Lifetime of a hold, ms. */
  holdTtlMs: number;
  /** Idle expiry of a thread's key, ms. */
  threadTtlMs: number;
  /** The key's expiry is pushed forward once less than `threadTtlMs - slackMs` of it is left. */
  slackMs: number;
  /** Threshold percents, ascending (at most 31). */
  thresholds: readonly number[];
  /**
   * Most threads per group, when threads are grouped: reserve and setBudget then take the group's key
   * (`''` for none) as an extra argument, and each group keeps a sorted set of its threads' keys scored by
   * last use (kept in step with the keys' idle expiry); a reserve that would create a thread in a full group
   * replies `{count, limit, 0, 0}` and creates nothing.
   */
  maxThreadsPerGroup?: number;
  /** A thread counts toward its group until unused this long, ms (at most `threadTtlMs`). Default `threadTtlMs`. */
  groupWindowMs?: number;
}

/** A ledger configuration compiled into Lua text, shared by the batch script and the single-operation ones. */
export interface ScriptParts {
  /** Helpers every script starts with (pack, purge, ...). */
  common: string;
  /** Default maximum of a new thread. */
  max: string;
  /** Lifetime of a hold, ms. */
  holdTtl: string;
  /** Idle expiry of a thread's key, ms. */
  ttl: string;
  /** The key's expiry is pushed forward once less than `ttl - slack` of it is left. */
  slack: string;
  grouped: boolean;
  groupLimit: string;
  groupWindow: string;
  /**
   * Unrolled threshold checks on locals `used`, `max`, `f` (fired bits): a first crossing appends the
   * percent (with `append`) and sets its bit.
   */
  crossingsWith: (append: (percent: string) => string) => string;
}

const COMMON = `
local fmt, sub, spack, sunpack = string.format, string.sub, struct.pack, struct.unpack
local FMT = '${STATE_FORMAT}'
local function int(x) return fmt('%d', x) end
local function pack(s) return spack(FMT, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]) end
-- Deletes the holds of \`key\` that expired by \`now\` (and its expired tombstones); returns their tokens,
-- their count and the earliest expiry of the holds left (0 if none). Forgets the deleted ids in \`H\` (id ->
-- thread slot) when given.
local function purge(key, now, H)
  local all = redis.call('HGETALL', key)
  local sum, n, earliest, gone, ng = 0, 0, 0, {}, 0
  for i = 1, #all, 2 do
    local f = all[i]
    if #f >= ${HOLD_MIN} then
      local e = tonumber(all[i + 1])
      if e < 0 then
        if -e <= now then ng = ng + 1; gone[ng] = f end
      elseif e <= now then
        sum, n = sum + tonumber(sub(f, ${HOLD_MIN})), n + 1
        ng = ng + 1; gone[ng] = f
        if H then H[f] = nil end
      elseif earliest == 0 or e < earliest then
        earliest = e
      end
    end
  end
  for i = 1, ng, 500 do redis.call('HDEL', key, unpack(gone, i, math.min(i + 499, ng))) end
  return sum, n, earliest
end
`;

function luaNumber(field: string, n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`${field}: ${n} is not a finite number`);
  return String(n);
}


/** Compiles the configuration into Lua text (numbers checked finite). */
export function scriptParts(config: LedgerScriptConfig): ScriptParts {
  if (config.thresholds.length > 31) throw new RangeError('thresholds: at most 31');
  const percents = config.thresholds.map((p) => luaNumber('thresholds', p));
  const grouped = config.maxThreadsPerGroup !== undefined;
  return {
    common: COMMON,
    max: luaNumber('defaultMax', config.defaultMax),
    holdTtl: luaNumber('holdTtlMs', config.holdTtlMs),
    ttl: luaNumber('threadTtlMs', config.threadTtlMs),
    slack: luaNumber('slackMs', config.slackMs),
    grouped,
    groupLimit: grouped ? luaNumber('maxThreadsPerGroup', config.maxThreadsPerGroup!) : '0',
    groupWindow: luaNumber('groupWindowMs', config.groupWindowMs ?? config.threadTtlMs),
    crossingsWith: (append) =>
      percents
        .map((p, i) => {
          const bit = 2 ** i;
          return `
if used * 100 >= ${p} * max and f % ${2 * bit} < ${bit} then
  ${append(`'${p}'`)}
  f = f + ${bit}
end`;
        })
        .join(''),
  };
}
