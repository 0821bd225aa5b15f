import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { InvalidConfigError, type ConfigProblem, type PathSegment } from './config-problems.js';
import type { TokenwardenConfig } from './config-schema.js';
import { validateConfig, type ConfigEnv } from './validate-config.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /**
   * The YAML file to read. Default: `TOKENWARDEN_CONFIG` from `env`, else `tokenwarden.yaml` in `cwd`
   * when it exists, else no file (defaults and environment only). A file named explicitly must exist.
   */
  file?: string;
  /** Environment overrides (see `validateConfig`). Default: none. Pass `process.env` from a CLI. */
  env?: ConfigEnv;
  /** Directory the default file is looked for in. Default `process.cwd()`. */
  cwd?: string;
  /** Checks the `providers` section further once its shape is valid (see `ValidateConfigOptions.checkProviders`). */
  checkProviders?: (providers: Record<string, unknown>) => void;
}

/** The file name looked for when none is given. */
export const DEFAULT_CONFIG_FILE = 'tokenwarden.yaml';

/**
 * Reads and validates the gateway configuration. Throws {@link InvalidConfigError} listing every
 * problem with its path in the file (and line), e.g.
 * `budgets.default_max_tokens: must be an integer >= 1 (got "lots") (line 7)`; nothing is started.
 *
 * @example
 * ```ts
 * const config = await loadConfig({ file: 'tokenwarden.yaml', env: process.env });
 * config.server.port; // 4000 unless the file or TOKENWARDEN_PORT says otherwise
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<TokenwardenConfig> {
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  let file = options.file ?? (env.TOKENWARDEN_CONFIG || undefined);
  const explicit = file !== undefined;
  if (!explicit) {
    const candidate = resolve(cwd, DEFAULT_CONFIG_FILE);
    if (existsSync(candidate)) file = candidate;
  }

  let raw: unknown;
  let doc: Document | undefined;
  let lines: LineCounter | undefined;
  if (file !== undefined) {
    file = resolve(cwd, file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
      throw new InvalidConfigError([{ path: '', problem: `cannot read the configuration file: ${why}` }], file);
    }
    lines = new LineCounter();
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const counter = lines;
      const problems: ConfigProblem[] = doc.errors.map((e) => ({
        path: '',
        problem: `invalid YAML: ${firstLine(e.message)}`,
        line: counter.linePos(e.pos[0]).line,
      }));
      throw new InvalidConfigError(problems, file);
    }
    raw = doc.toJS({ maxAliasCount: 100 });
  }

  const result = validateConfig(raw, {
    env,
    ...(file !== undefined ? { file, baseDir: dirname(file) } : { baseDir: cwd }),
    ...(options.checkProviders ? { checkProviders: options.checkProviders } : {}),
  });
  if (!result.ok) {
    const problems = result.problems.map(({ segments, ...p }) => {
      const line = doc && lines && segments ? lineOf(doc, lines, segments) : undefined;
      return line !== undefined ? { ...p, line } : p;
    });
    throw new InvalidConfigError(problems, file);
  }
  return result.config;
}

/** The 1-based line of the deepest node found along `segments` (or undefined). */
function lineOf(doc: Document, lines: LineCounter, segments: PathSegment[]): number | undefined {
  for (let n = segments.length; n > 0; n--) {
    const node: unknown = doc.getIn(segments.slice(0, n), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return i === -1 ? message : message.slice(0, i);
}
