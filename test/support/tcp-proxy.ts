/**
 * A TCP proxy on 127.0.0.1 port 0 whose link can be cut and restored, to break a real connection (to
 * Redis, say) at a chosen moment without touching the server behind it: `cut()` destroys every open
 * connection and refuses new ones; `restore()` lets clients reconnect to the same data.
 *
 * @example
 * ```ts
 * const proxy = await startTcpProxy(6379);
 * const ledger = new RedisBudgetLedger({ url: `redis://127.0.0.1:${proxy.port}` });
 * proxy.cut();     // Redis "gone" for the ledger
 * proxy.restore(); // back, with its data
 * await proxy.close();
 * ```
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    port: address.port,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close() {
      cut = true;
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
