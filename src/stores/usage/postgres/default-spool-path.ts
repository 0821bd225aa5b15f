import { resolve } from 'node:path';

/**
 * Where the PostgreSQL store spools events when no `spoolPath` is given:
 * `$TOKENWARDEN_SPOOL_DIR/<schema>.<table>.jsonl`, else `./.tokenwarden/spool/<schema>.<table>.jsonl`.
 * One process owns a spool file at a time, so give each process writing the same table its own path.
 *
 * @example
 * ```ts
 * resolveDefaultSpoolPath('public', 'usage_events'); // '/srv/app/.tokenwarden/spool/public.usage_events.jsonl'
 * ```
 */
export function resolveDefaultSpoolPath(
  schema: string,
  table: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): string {
  const dir = env.TOKENWARDEN_SPOOL_DIR && env.TOKENWARDEN_SPOOL_DIR.length > 0 ? env.TOKENWARDEN_SPOOL_DIR : '.tokenwarden/spool';
  return resolve(cwd, dir, `${schema}.${table}.jsonl`);
}
