import type { ServerResponse } from 'node:http';
import { setBudgetHeaders } from '../respond.js';
import type { ChatHandlerContext } from './chat-context.js';

/** Resolves when the response can take more data, or when the client is gone. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `text`; waits while the socket's buffer is full. */
export async function writeSse(res: ServerResponse, text: string): Promise<void> {
  if (!res.write(text) && !res.destroyed) await drained(res);
}

/** Sends the SSE headers, with the thread's budget headers as they stand before the first token. */
export async function writeStreamHead(ctx: Pick<ChatHandlerContext, 'router'>, res: ServerResponse, threadId: string | undefined): Promise<void> {
  if (threadId !== undefined) {
    const usage = await ctx.router.ledger.usage(threadId).catch(() => undefined);
    if (usage) setBudgetHeaders(res, usage);
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
}
