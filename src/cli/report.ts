import { ValidationError } from '../core/errors.js';
import { CliArgumentError } from './argv.js';
import { describeReportFailure } from './report/describe-failure.js';
import { openReportStore, type OpenedStore } from './report/open-store.js';
import { Progress } from './report/progress.js';
import { parseReportArgs, REPORT_HELP } from './report/report-args.js';
import type { ReportArgs, ReportCommandIO } from './report/types.js';
import { writeReport } from './report/write-report.js';

export type { ReportCommandIO } from './report/types.js';

/** Test and embedding hooks of {@link runReportCommand}. */
export interface ReportCommandOptions {
  /** Environment read for `TOKENWARDEN_DB` / `TOKENWARDEN_DATABASE_URL`. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Events per page when exporting or grouping by thread (1-1000). Default 1000. */
  pageSize?: number;
}

/**
 * `tokenwarden report`: prints a usage and cost report from the SQLite or PostgreSQL usage store.
 * `argv` is what follows `report` on the command line. Returns the exit code: 0 ok, 1 the store could
 * not be read (missing, unreadable, locked, unreachable), 2 bad arguments. Opens the store read-only.
 *
 * @example
 * ```ts
 * const code = await runReportCommand(['--since', '2025-06-01', '--until', '2025-06-30', '--org', 'acme', '--by', 'model'], {
 *   stdout: (s) => process.stdout.write(s),
 *   stderr: (s) => process.stderr.write(s),
 *   isTTY: process.stderr.isTTY,
 * });
 * ```
 */
export async function runReportCommand(argv: string[], io: ReportCommandIO, options: ReportCommandOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const pageSize = options.pageSize ?? 1000;
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout(REPORT_HELP);
    return 0;
  }
  let args: ReportArgs;
  try {
    args = parseReportArgs(argv, env);
  } catch (err) {
    if (!(err instanceof CliArgumentError)) throw err;
    io.stderr(`tokenwarden report: ${err.message}\nRun 'tokenwarden report --help' for usage.\n`);
    return 2;
  }
  return report(args, io, pageSize);
}

/** Opens the store, writes the report, closes the store; 1 when the store could not be read. */
async function report(args: ReportArgs, io: ReportCommandIO, pageSize: number): Promise<number> {
  const progress = new Progress(io);
  let opened: OpenedStore | undefined;
  try {
    opened = await openReportStore(args);
    await writeReport(opened.store, args, io, progress, pageSize);
    return 0;
  } catch (err) {
    progress.clear();
    if (err instanceof ValidationError) {
      io.stderr(`tokenwarden report: ${err.message}\n`);
      return 2;
    }
    io.stderr(`tokenwarden report: ${describeReportFailure(err, args)}\n`);
    return 1;
  } finally {
    await opened?.dispose().catch(() => {});
  }
}
