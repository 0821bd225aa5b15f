import type { z } from 'zod';
import { errorMessage } from '../core/error-fields.js';
import { ConfigError } from '../core/errors.js';
import { formatPath } from '../core/format-path.js';

/** A segment of a path into the configuration: a key or an array index. */
export type PathSegment = string | number;

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

/** A problem with the path it was found at, so that the loader can look up its line in the file. */
export interface LocatedProblem extends ConfigProblem {
  segments?: PathSegment[];
}

type Issue = z.core.$ZodIssue;

/**
 * The problems of a failed zod parse, in the shape the configuration reports them: `path` written as in
 * the file (`backends[1].provider`, `''` for the whole value), under `prefix`. Unknown keys come first
 * (a misspelt key explains the problems after it); a union's problem is the one of the branch the value
 * was written for (a mapping, not a word), or the union's own message when it matches neither.
 */
export function problemsFromIssues(issues: readonly Issue[], prefix: readonly PathSegment[] = []): LocatedProblem[] {
  const flat = issues.flatMap((issue) => flattenUnion(issue, prefix));
  const unknownFirst = [...flat.filter((f) => f.unknownKey), ...flat.filter((f) => !f.unknownKey)];
  return unknownFirst.map(({ issue, segments }) => ({
    path: segments.length > 0 ? formatPath(segments) : '',
    problem: issue.message,
    segments,
  }));
}

function flattenUnion(issue: Issue, prefix: readonly PathSegment[]): Array<{ issue: Issue; segments: PathSegment[]; unknownKey: boolean }> {
  const segments = [...prefix, ...issue.path.map((k) => (typeof k === 'number' ? k : String(k)))];
  if (issue.code === 'invalid_union') {
    const meant = issue.errors.find((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
    if (meant) return meant.flatMap((i) => flattenUnion(i, segments));
  }
  const unknownKey = issue.code === 'custom' && (issue.params as { unknownKey?: boolean } | undefined)?.unknownKey === true;
  return [{ issue, segments, unknownKey }];
}

/**
 * The path and problem of an error thrown while reading the providers section (a `ConfigError` says
 * "<path>: <problem>" with `path` relative to that section); any other error has an empty path.
 */
export function providersProblemOf(err: unknown): { path: string; problem: string } {
  const path = typeof (err as { path?: unknown }).path === 'string' ? (err as { path: string }).path : '';
  const message = errorMessage(err);
  return { path, problem: path && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message };
}
