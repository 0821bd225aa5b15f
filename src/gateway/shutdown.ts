import type { Server } from 'node:http';
import type { GatewayContext } from './gateway-context.js';
import { withinMs } from './lifecycle.js';

/**
 * Graceful shutdown: stops accepting connections, lets in-flight requests (streams included) finish
 * (cut after `timeoutMs`), waits for handlers still billing a call, detaches from the tracker and writes
 * the last usage events; then, with `closeResources`, flushes and closes the store and closes the ledger.
 */
export async function shutdownGateway(gw: GatewayContext, server: Server, timeoutMs: number, closeResources: boolean): Promise<void> {
  const { lifecycle, logError } = gw;
  lifecycle.closing = true;
  gw.readiness.stop();
  const serverClosed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  server.closeIdleConnections();
  const idle = await lifecycle.waitIdle(timeoutMs);
  if (!idle) logError(`shutdown: ${lifecycle.inFlightCount} request(s) still running after ${timeoutMs} ms; closing their connections`, undefined);
  server.closeAllConnections();
  await serverClosed;
  if (!(await lifecycle.handlersSettled(timeoutMs))) {
    logError(`shutdown: ${lifecycle.runningCount} call(s) still running after their connections closed; their usage may not be stored`, undefined);
  }
  for (const d of gw.detachers) d();
  gw.metrics.setGaugeCollector(undefined);
  await gw.committer?.close();
  if (closeResources) await closeStoreAndLedger(gw, timeoutMs);
}

async function closeStoreAndLedger(gw: GatewayContext, timeoutMs: number): Promise<void> {
  const { store, logError } = gw;
  if (store) {
    try {
      await store.flush();
    } catch (err) {
      logError('shutdown: flushing the usage store failed', err);
    }
    await store.close().catch((err: unknown) => logError('shutdown: closing the usage store failed', err));
  }
  // Settles the router retries in the background (its ledger failed mid-call) land before the ledger closes.
  const settled = await withinMs(gw.router.drainSettles(), timeoutMs);
  if (!settled) logError(`shutdown: budget settles still being retried after ${timeoutMs} ms are dropped`, undefined);
  await gw.ledger.close().catch((err: unknown) => logError('shutdown: closing the budget ledger failed', err));
  await gw.policies?.ledger.close().catch((err: unknown) => logError('shutdown: closing the budget-policy ledger failed', err));
  await gw.policies?.alerts?.close().catch((err: unknown) => logError('shutdown: closing the budget alerts failed', err));
}
