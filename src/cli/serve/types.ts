import type { AddressInfo } from 'node:net';
import type { Gateway } from '../../gateway/index.js';
import type { ConfigEnv } from '../../server/index.js';

/** Where the command writes (the CLI passes stdout/stderr). */
export interface ServeIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Hooks for embedding and tests. All optional. */
export interface ServeOptions {
  /** Environment read for overrides and provider keys. Default `process.env`. */
  env?: ConfigEnv;
  /** Directory `tokenwarden.yaml` is looked for in. Default `process.cwd()`. */
  cwd?: string;
  /** Aborting it shuts the gateway down, like SIGTERM. */
  signal?: AbortSignal;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
  /** Called once the gateway listens. */
  onListening?: (info: { gateway: Gateway; address: AddressInfo; url: string }) => void;
}
