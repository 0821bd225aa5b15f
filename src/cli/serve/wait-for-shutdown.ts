import type { Gateway } from '../../gateway/index.js';
import type { ServeIO, ServeOptions } from './types.js';

/**
 * Resolves once the gateway has shut down: on SIGTERM/SIGINT (unless `handleSignals: false`), on
 * `options.signal`, or when someone closes the gateway directly. The first stop lets in-flight requests
 * finish; a second signal cuts them.
 */
export function waitForShutdown(gateway: Gateway, io: ServeIO, options: ServeOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const handlers: Array<[NodeJS.Signals, () => void]> = [];
    const stop = (why: string): void => {
      if (stopping && why === 'gateway closed') return;
      if (stopping) {
        io.stderr('tokenwarden serve: second signal, cutting in-flight requests\n');
        gateway.server.closeAllConnections();
        return;
      }
      stopping = true;
      io.stderr(`tokenwarden serve: ${why}, shutting down (finishing in-flight requests)\n`);
      gateway.close().then(
        () => {
          for (const [sig, h] of handlers) process.off(sig, h);
          options.signal?.removeEventListener('abort', onAbort);
          io.stderr('tokenwarden serve: stopped\n');
          resolve();
        },
        (err: unknown) => {
          io.stderr(`tokenwarden serve: error while shutting down: ${(err as Error).message}\n`);
          resolve();
        },
      );
    };
    const onAbort = (): void => stop('stop requested');
    if (options.handleSignals !== false) {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        const h = (): void => stop(`received ${sig}`);
        handlers.push([sig, h]);
        process.on(sig, h);
      }
    }
    // Someone closed the gateway directly (e.g. through onListening): finish the shutdown and return.
    gateway.server.once('close', () => stop('gateway closed'));
    if (options.signal) {
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}
