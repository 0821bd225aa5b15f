#!/usr/bin/env node
/**
 * The `tokenwarden` command: `serve`, `report`, `prices`. Thin: it parses the command word and hands
 * the remaining arguments to the command's module (loaded on demand, so `prices` never loads a database
 * driver).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../core/error-fields.js';

export interface CommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTTY?: boolean;
}

const USAGE = `Usage: tokenwarden <command> [options]

Commands:
  serve    Start the OpenAI-compatible gateway (default 127.0.0.1:4000)
             --config FILE  --port N  --host H
  report   Usage report from the usage store
             --since DATE --until DATE --org ID --by model|agent|day|thread
             --format table|json|csv --db PATH | --database-url URL
  prices   Show the price used for a model and where it came from
             tokenwarden prices MODEL [--config FILE] [--json]

Options:
  -h, --help     Show this help
  -v, --version  Show the version
`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { runServeCommand } = await import('./serve.js');
      return runServeCommand(rest, io);
    }
    case 'report': {
      const { runReportCommand } = await import('./report.js');
      return runReportCommand(rest, io);
    }
    case 'prices': {
      const { runPricesCommand } = await import('./prices.js');
      return runPricesCommand(rest, io);
    }
    case '-v':
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      io.stdout(`${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`tokenwarden: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

const isEntryPoint =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isEntryPoint) {
  const io: CommandIO = {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      // serve keeps the process alive through its server; other commands exit with their code.
      if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
    },
    (err: unknown) => {
      io.stderr(`tokenwarden: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
