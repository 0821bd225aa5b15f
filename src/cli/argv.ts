import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorCode } from '../core/error-fields.js';

/**
 * A command-line argument a command cannot accept (unknown option, missing value, bad value). The command
 * prints its message and exits with status 2.
 */
export class CliArgumentError extends Error {
  override readonly name = 'CliArgumentError';
}

/** The option table of a command, as `node:util` `parseArgs` takes it. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

type StrictConfig<O extends CommandOptions> = { args: string[]; options: O; strict: true; allowPositionals: boolean; tokens: true };

/** The typed result of a strict parse: `values` typed by the option table. */
export type ParsedCommandLine<O extends CommandOptions> = ReturnType<typeof parseArgs<StrictConfig<O>>>;

/** What is wrong with one word of a command line, for the command to put in its own words. */
export type ArgvProblemKind =
  /** A word that is not an option, where the command takes none. */
  | { kind: 'unexpected-argument'; arg: string }
  /** An option the command does not know; `flag` as typed (`--bogus`), `arg` the whole word (`--bogus=1`). */
  | { kind: 'unknown-option'; flag: string; arg: string }
  /** An option that needs a value got none (last word, followed by another `--option`, or empty when not allowed). */
  | { kind: 'missing-value'; flag: string }
  /** A value starting with `-` given as the next word: ambiguous, it must be written `--name=-value`. */
  | { kind: 'dash-value'; flag: string; name: string; value: string }
  /** A switch given a value (`--help=1`). */
  | { kind: 'takes-no-value'; flag: string }
  /** An option given twice where that is not allowed. */
  | { kind: 'repeated'; flag: string };

/** The first thing wrong with a command line; `index` is the word's position in `argv`. */
export type ArgvProblem = ArgvProblemKind & { index: number };

/** Rules beyond `parseArgs`' own that a command asks for. */
export interface ArgvRules {
  /** Each option at most once (otherwise the last one wins). */
  once?: boolean;
  /** An empty value (`--org=`) counts as a missing one. */
  nonEmpty?: boolean;
  /** The command takes positional words (otherwise each is an `unexpected-argument`). */
  positionals?: boolean;
}

/** A command line read without problems. */
export interface CommandLine<O extends CommandOptions> {
  values: ParsedCommandLine<O>['values'];
  positionals: string[];
  problem: undefined;
}

/**
 * Parses `argv` with `node:util` `parseArgs` (strict) and finds the first problem in it, left to right, so
 * the command can name it in its own words. A lone `--` is an unknown option (as the hand-written parsers
 * had it), so a word after it is never read as something else.
 *
 * @example
 * ```ts
 * const { values, problem } = parseCommandLine(['--port', 'x'], { port: { type: 'string' } });
 * ```
 */
export function parseCommandLine<O extends CommandOptions>(
  argv: readonly string[],
  options: O,
  rules: ArgvRules = {},
): CommandLine<O> | { values: undefined; positionals: undefined; problem: ArgvProblem } {
  let parsed: ParsedCommandLine<O>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: rules.positionals === true, tokens: true });
  } catch (err) {
    if (!isParseArgsError(err)) throw err;
    // Strict parsing stops at the first problem with its own wording: read the words leniently to name it ours.
    const lenient = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
    const problem = findProblem(lenient.tokens, argv, options, rules);
    if (problem) return { values: undefined, positionals: undefined, problem };
    throw new CliArgumentError((err as Error).message);
  }
  const problem = findProblem(parsed.tokens, argv, options, rules);
  if (problem) return { values: undefined, positionals: undefined, problem };
  return { values: parsed.values, positionals: parsed.positionals, problem: undefined };
}

type Token = NonNullable<ReturnType<typeof parseArgs<{ options: CommandOptions; strict: false; tokens: true }>>['tokens']>[number];

function findProblem(tokens: readonly Token[], argv: readonly string[], options: CommandOptions, rules: ArgvRules): ArgvProblem | undefined {
  const seen = new Set<string>();
  for (const token of tokens) {
    const problem = tokenProblem(token, argv, options, rules, seen);
    if (problem) return { ...problem, index: token.index };
  }
  return undefined;
}

function tokenProblem(token: Token, argv: readonly string[], options: CommandOptions, rules: ArgvRules, seen: Set<string>): ArgvProblemKind | undefined {
  if (token.kind === 'positional') return rules.positionals ? undefined : { kind: 'unexpected-argument', arg: token.value };
  if (token.kind === 'option-terminator') return { kind: 'unknown-option', flag: '--', arg: '--' };
  const word = argv[token.index]!;
  // A short option stands alone, as the hand-written parsers had it: `-p8080`, `-c=x` and `-hp` are unknown words.
  if (!token.rawName.startsWith('--') && word !== token.rawName) return { kind: 'unknown-option', flag: word, arg: word };
  const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
  if (!option) return { kind: 'unknown-option', flag: token.rawName, arg: word };
  const problem = valueProblem(token, option.type, rules);
  if (problem) return problem;
  if (rules.once && seen.has(token.name)) return { kind: 'repeated', flag: token.rawName };
  seen.add(token.name);
  return undefined;
}

function valueProblem(token: Token & { kind: 'option' }, type: 'string' | 'boolean', rules: ArgvRules): ArgvProblemKind | undefined {
  const flag = token.rawName;
  const value = token.value;
  if (type === 'boolean') return value === undefined ? undefined : { kind: 'takes-no-value', flag };
  if (value === undefined || (rules.nonEmpty && value === '')) return { kind: 'missing-value', flag };
  if (!token.inlineValue && value.startsWith('-')) {
    return value.startsWith('--') && value.length > 2 ? { kind: 'missing-value', flag } : { kind: 'dash-value', flag, name: token.name, value };
  }
  return undefined;
}

function isParseArgsError(err: unknown): boolean {
  return errorCode(err)?.startsWith('ERR_PARSE_ARGS_') === true;
}

/**
 * A problem in the words every command uses; `unknownWord` words an unknown option or a stray argument,
 * which each command says its own way.
 */
export function describeArgvProblem(
  problem: ArgvProblem,
  unknownWord: (problem: Extract<ArgvProblem, { kind: 'unexpected-argument' | 'unknown-option' }>) => string,
): string {
  switch (problem.kind) {
    case 'unexpected-argument':
    case 'unknown-option':
      return unknownWord(problem);
    case 'missing-value':
      return `${problem.flag} needs a value`;
    case 'dash-value':
      return `${problem.flag} needs a value (write --${problem.name}=${problem.value} for one starting with "-")`;
    case 'takes-no-value':
      return `${problem.flag} takes no value`;
    case 'repeated':
      return `${problem.flag} given more than once`;
  }
}
