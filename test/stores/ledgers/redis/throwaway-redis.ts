/**
 * A private, disposable `redis-server` for tests that must stop and restart Redis (outage, recovery,
 * SCRIPT FLUSH) without touching the shared server on 6379. Reusable by the multi-gateway tests.
 *
 * @example
 * ```ts
 * const redis = await startThrowawayRedis();
 * const ledger = new RedisBudgetLedger({ url: redis.url });
 * await redis.kill();        // SIGKILL: Redis vanishes mid-flight
 * redis.pause(); redis.resume(); // SIGSTOP / SIGCONT: a stall
 * await redis.start();       // same port, empty data
 * await redis.stop();        // in afterAll
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export interface ThrowawayRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** (Re)starts the server on the same port (no-op if running); resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills the server at once (SIGKILL) and waits for the process to exit and the port to close. */
  kill(): Promise<void>;
  /** Stops the server for good (same as kill; idempotent). Call it in `afterAll`. */
  stop(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing until {@link resume}. */
  pause(): void;
  /** SIGCONT after {@link pause}: the server goes on with what it received meanwhile. */
  resume(): void;
}

/** Binds port 0 on 127.0.0.1, notes the port and closes it again. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read the bound port');
  return address.port;
}

/** Starts `redis-server` (no persistence) on a free port, or on `port`. */
export async function startThrowawayRedis(options: { port?: number; binary?: string } = {}): Promise<ThrowawayRedis> {
  const port = options.port ?? (await freePort());
  const binary = options.binary ?? 'redis-server';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child = proc;
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const failed = exited.then(() => {
      throw new Error(`redis-server on port ${port} exited at start: ${stderr.trim() || '(no output)'}`);
    });
    const deadline = Date.now() + 10_000;
    while (true) {
      const ok = await Promise.race([ping(port), failed]);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    // The kernel closes the listening socket with the process; wait until connects are refused.
    const deadline = Date.now() + 5_000;
    while ((await ping(port)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    start,
    kill,
    stop: async () => {
      child?.kill('SIGCONT'); // a stopped process cannot die of SIGKILL until it runs again on some systems
      await kill();
    },
    pause: () => {
      if (!child) throw new Error('throwaway redis is not running');
      child.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}

/** Sends an inline PING; resolves true on `+PONG`, false on any failure. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}
