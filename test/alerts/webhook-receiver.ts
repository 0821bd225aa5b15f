import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook receiver for tests: a real HTTP server on 127.0.0.1 that checks every request the way a
 * Standard Webhooks consumer does, with its own code (not the sender's): the three headers present, the
 * timestamp within 5 minutes of the receiver's clock, and one `v1,` signature of the header list
 * matching HMAC-SHA256 over `id.timestamp.body` under the secret's key.
 */

/** What the receiver does with the n-th request (counting from 1): answer 2xx, fail with a status, or never answer. */
export type ReceiverAction = 'ok' | 'hang' | number;

export interface Received {
  id: string;
  timestamp: number;
  body: string;
  /** The signature checked out (and the timestamp was within tolerance). */
  valid: boolean;
  /** What the receiver answered: a status, or `hang`. */
  answer: number | 'hang';
}

/** The HMAC key of a secret as the spec serializes it: `whsec_` + base64 of the key bytes; anything else as its UTF-8 bytes. */
export function secretKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The Standard Webhooks symmetric check: does any `v1,` entry of `signatureHeader` sign `id.timestamp.body`? */
export function verifySignature(secret: string, id: string, timestamp: string, body: string, signatureHeader: string): boolean {
  const expected = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest();
  return signatureHeader.split(' ').some((entry) => {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') return false;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  private server: Server | undefined;
  private readonly hanging: ServerResponse[] = [];
  url = '';

  /**
   * @param secret The endpoint's secret.
   * @param plan What to do with the n-th request; default always `ok`.
   * @param nowMs The receiver's clock for the timestamp tolerance (the sender's injected clock).
   */
  constructor(
    private readonly secret: string,
    public plan: (n: number) => ReceiverAction = () => 'ok',
    private readonly nowMs: () => number = Date.now,
  ) {}

  async listen(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((done) => this.server!.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  /** Bodies of valid deliveries answered 2xx, by webhook id. */
  delivered(): Map<string, string> {
    return new Map(this.received.filter((r) => r.valid && r.answer === 204).map((r) => [r.id, r.body]));
  }

  /** Answers every request left hanging (with a 204), e.g. before closing. */
  release(): void {
    for (const res of this.hanging.splice(0)) if (!res.writableEnded) res.writeHead(204).end();
  }

  async close(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((done) => this.server?.close(() => done()) ?? done());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const id = header(req, 'webhook-id');
    const timestamp = header(req, 'webhook-timestamp');
    const signature = header(req, 'webhook-signature');
    const fresh = /^\d+$/.test(timestamp) && Math.abs(Number(timestamp) - this.nowMs() / 1000) <= 300;
    const valid = req.method === 'POST' && id !== '' && fresh && verifySignature(this.secret, id, timestamp, body, signature);
    const action: ReceiverAction = valid ? this.plan(this.received.length + 1) : 400;
    this.received.push({ id, timestamp: Number(timestamp), body, valid, answer: action === 'ok' ? 204 : action });
    if (action === 'hang') this.hanging.push(res);
    else res.writeHead(action === 'ok' ? 204 : action).end(action === 'ok' ? undefined : 'no');
  }
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === 'string' ? value : '';
}
