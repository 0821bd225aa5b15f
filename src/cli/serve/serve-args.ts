import { CliArgumentError, parseCommandLine, type ArgvProblem, type CommandOptions, describeArgvProblem } from '../argv.js';

/** `tokenwarden serve --help`. */
export const SERVE_HELP = `Usage: tokenwarden serve [--config FILE] [--port N] [--host H]

Starts the OpenAI-compatible gateway (default http://127.0.0.1:4000).

  --config FILE  YAML configuration (default: ./tokenwarden.yaml when present, or $TOKENWARDEN_CONFIG)
  --port N       Port to listen on (overrides server.port and TOKENWARDEN_PORT; 0 = any free port)
  --host H       Host to listen on (overrides server.host and TOKENWARDEN_HOST)
  -h, --help     Show this help

Environment: TOKENWARDEN_HOST, TOKENWARDEN_PORT, TOKENWARDEN_DB (SQLite path or postgres:// URL),
DATABASE_URL, TOKENWARDEN_LEDGER (memory or redis:// URL), REDIS_URL, TOKENWARDEN_DEFAULT_MAX_TOKENS,
TOKENWARDEN_BODY_LIMIT, TOKENWARDEN_HEADERS_TIMEOUT_MS, TOKENWARDEN_REQUEST_TIMEOUT_MS,
TOKENWARDEN_CORS_ORIGINS (comma-separated); provider keys OPENAI_API_KEY, ANTHROPIC_API_KEY, XAI_API_KEY.
`;

const SERVE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies CommandOptions;

/** `tokenwarden serve`'s command line, checked. */
export interface ServeArgs {
  config?: string;
  port?: number;
  host?: string;
  help: boolean;
}

/**
 * Reads `tokenwarden serve`'s arguments (an option given twice: the last one wins); throws a
 * {@link CliArgumentError} naming the first problem.
 *
 * @example
 * ```ts
 * parseServeArgs(['-p', '8080', '--host', '0.0.0.0']); // { help: false, port: 8080, host: '0.0.0.0' }
 * ```
 */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const { values, problem } = parseCommandLine(argv, SERVE_OPTIONS);
  if (problem) throw new CliArgumentError(describeProblem(problem));
  const out: ServeArgs = { help: values.help === true };
  if (values.config !== undefined) out.config = values.config;
  if (values.port !== undefined) out.port = parsePort(values.port);
  if (values.host !== undefined) {
    if (values.host.trim() === '') throw new CliArgumentError('--host must not be empty');
    out.host = values.host;
  }
  return out;
}

function parsePort(value: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new CliArgumentError(`--port must be an integer from 0 to 65535 (got ${JSON.stringify(value)})`);
  return n;
}

function describeProblem(problem: ArgvProblem): string {
  return describeArgvProblem(problem, (p) => `unknown option ${JSON.stringify(p.arg)}`);
}
