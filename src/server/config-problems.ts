import { ConfigError } from '../core/errors.js';

/** One problem found in a configuration: where (`path`, and the file line when known) and what. */
export interface ConfigProblem {
  /** Dotted path in the file, e.g. `budgets.default_max_tokens`, or `env TOKENWARDEN_PORT`. */
  path: string;
  /** What is wrong, e.g. `must be an integer >= 1 (got "lots")`. */
  problem: string;
  /** 1-based line in the YAML file, when the value came from the file. */
  line?: number;
}

/**
 * A configuration with one or more problems. `problems` lists them all (the server refuses to start
 * until every one is fixed); `path` is the first one's.
 *
 * @example
 * ```ts
 * try { await loadConfig({ file: 'tokenwarden.yaml', env: process.env }); }
 * catch (err) { if (err instanceof InvalidConfigError) for (const p of err.problems) console.error(p.path, p.problem); }
 * ```
 */
export class InvalidConfigError extends ConfigError {
  readonly problems: readonly ConfigProblem[];
  /** The file the problems were found in, if any. */
  readonly file: string | undefined;

  constructor(problems: readonly ConfigProblem[], file?: string) {
    const first = problems[0] ?? { path: '', problem: 'invalid configuration' };
    super(first.path, first.problem);
    this.problems = problems;
    this.file = file;
    const where = file ? `${file}` : 'configuration';
    const lines = problems.map((p) => `  ${formatProblem(p)}`);
    this.message =
      problems.length === 1
        ? `${where}: ${formatProblem(first)}`
        : `${where} has ${problems.length} problems:\n${lines.join('\n')}`;
  }
}

/** `path: problem (line N)`. */
export function formatProblem(p: ConfigProblem): string {
  const head = p.path ? `${p.path}: ${p.problem}` : p.problem;
  return p.line !== undefined ? `${head} (line ${p.line})` : head;
}
