import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build`), run as users deploy it. */
export const SERVE_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A `tokenwarden serve` child process that is listening. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Sends `signal` (default SIGTERM) unless the process has exited; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `tokenwarden serve --config <configFile>` with an environment holding only PATH, and resolves
 * once it prints the URL it listens on (rejects if it exits first or takes over 15 s).
 */
export function startServeProcess(configFile: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, [SERVE_MAIN, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${err}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          async stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening: ${err}`));
    });
  });
}
