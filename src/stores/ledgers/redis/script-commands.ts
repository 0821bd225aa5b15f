import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LedgerScripts } from './scripts.js';

/** One of the ledger's scripts. */
export type ScriptName = keyof LedgerScripts;

/** Runs one script: its keys, then its arguments. */
export type ScriptCommand = (keys: string[], args: (string | number)[]) => Promise<unknown>;

type DefinedCommand = (numkeys: number, keys: string[], args: (string | number)[]) => Promise<unknown>;

/** A client after `defineCommand`: each defined command is a method named after it. */
type ClientWithCommands = Redis & Partial<Record<string, DefinedCommand>>;

/**
 * The ledger's scripts as ioredis custom commands (`defineCommand`): ioredis sends EVALSHA, and EVAL
 * (which also caches the script) the first time on each connection and after a NOSCRIPT, in pipelines
 * too. Each command is named after its script's hash, so ledgers sharing a client (same script or not)
 * never clash. Measured against the hand-written EVALSHA-then-EVAL fallback it replaced (same process,
 * interleaved, 64 callers, medians of 8): Node CPU per reserve+settle pair 12.7 vs 11.7 µs batched
 * (maxBatch 128) and 35.7 vs 37.3 µs unbatched: no difference beyond noise, so ioredis's does it.
 *
 * @example
 * ```ts
 * const run = defineScriptCommands(client, buildLedgerScripts(config));
 * await run.usage(['tw:{t}:b'], [Date.now()]);
 * ```
 */
export function defineScriptCommands(client: Redis, scripts: LedgerScripts): Record<ScriptName, ScriptCommand> {
  const define = (lua: string): ScriptCommand => {
    const name = `tokenwarden_${createHash('sha1').update(lua).digest('hex')}`;
    const commands = client as ClientWithCommands;
    if (typeof commands[name] !== 'function') client.defineCommand(name, { lua });
    // ioredis flattens one level of arrays: passing keys and args as arrays spares spreading them.
    return (keys, args) => commands[name]!.call(client, keys.length, keys, args);
  };
  return {
    ops: define(scripts.ops),
    usage: define(scripts.usage),
    setBudget: define(scripts.setBudget),
    endThread: define(scripts.endThread),
    seed: define(scripts.seed),
  };
}
