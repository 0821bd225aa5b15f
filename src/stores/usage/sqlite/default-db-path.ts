import { resolve } from 'node:path';

/**
 * Where the SQLite usage store lives when no path is given: `$TOKENWARDEN_DB` if set, else
 * `./.tokenwarden/usage.db` under the current working directory. The result is absolute.
 *
 * @example
 * ```ts
 * resolveDefaultDbPath();                                   // '/srv/app/.tokenwarden/usage.db'
 * resolveDefaultDbPath({ TOKENWARDEN_DB: '/var/lib/tw.db' }); // '/var/lib/tw.db'
 * ```
 */
export function resolveDefaultDbPath(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const fromEnv = env.TOKENWARDEN_DB;
  return fromEnv && fromEnv.length > 0 ? resolve(cwd, fromEnv) : resolve(cwd, '.tokenwarden', 'usage.db');
}
