/**
 * `tokenwarden serve [--config FILE] [--port N] [--host H]`: loads the configuration, builds the store,
 * ledger and router it describes, starts the gateway and prints a start-up banner; SIGTERM or SIGINT
 * shuts it down gracefully (in-flight requests finish, the store is flushed).
 */
import { CliArgumentError } from './argv.js';
import { parseServeArgs, SERVE_HELP, type ServeArgs } from './serve/serve-args.js';
import { startGateway } from './serve/start-gateway.js';
import type { ServeIO, ServeOptions } from './serve/types.js';
import { waitForShutdown } from './serve/wait-for-shutdown.js';

export type { ServeIO, ServeOptions } from './serve/types.js';

/**
 * Runs `tokenwarden serve`. Resolves with the exit code once the gateway has shut down (0), or at once
 * with 2 for bad arguments and 1 for a bad configuration or a failed start (nothing is left running).
 *
 * @example
 * ```ts
 * const code = await runServeCommand(['--port', '8080'], { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) });
 * ```
 */
export async function runServeCommand(argv: readonly string[], io: ServeIO, options: ServeOptions = {}): Promise<number> {
  let args: ServeArgs;
  try {
    args = parseServeArgs(argv);
  } catch (err) {
    if (!(err instanceof CliArgumentError)) throw err;
    io.stderr(`tokenwarden serve: ${err.message}\n\n${SERVE_HELP}`);
    return 2;
  }
  if (args.help) {
    io.stdout(SERVE_HELP);
    return 0;
  }
  const gateway = await startGateway(args, io, options);
  if (!gateway) return 1;
  await waitForShutdown(gateway, io, options);
  return 0;
}
