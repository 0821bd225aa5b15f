// A lean closed-loop HTTP/1.1 load generator for the gateway benchmarks, in the manner of wrk: each
// connection is one keep-alive socket that sends a prepared request, reads the whole response
// (Content-Length or chunked), and sends the next. It spends far less CPU per request than a general
// client (undici), so on a small machine the load generator takes less of the cores the servers under
// test need. Same request bytes for every target; every response is read to its end.
import { Buffer } from 'node:buffer';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The bytes of one POST request with a JSON body. */
export function requestBytes(url, headers, body) {
  const { host, pathname, search } = new URL(url);
  const payload = Buffer.from(body);
  const lines = [`POST ${pathname}${search} HTTP/1.1`, `host: ${host}`, 'connection: keep-alive', `content-length: ${payload.length}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]);
}

/**
 * Parses one complete response at the start of `buf`. Returns `{ status, end, body }` (`end`: bytes
 * consumed) or undefined when more bytes are needed.
 */
export function parseResponse(buf) {
  const headerEnd = buf.indexOf(HEADER_END);
  if (headerEnd < 0) return undefined;
  const head = buf.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  const bodyStart = headerEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const end = bodyStart + Number(length[1]);
    return buf.length >= end ? { status, end, body: buf.subarray(bodyStart, end) } : undefined;
  }
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    if (status === 204 || status === 304) return { status, end: bodyStart, body: buf.subarray(bodyStart, bodyStart) };
    throw new Error(`response without content-length or chunked encoding: ${head.slice(0, 200)}`);
  }
  const parts = [];
  for (let pos = bodyStart; ; ) {
    const lineEnd = buf.indexOf(CRLF, pos);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
    if (size === 0) {
      // The last chunk: optional trailer lines, then an empty line.
      const end = buf.indexOf(HEADER_END, lineEnd);
      return end < 0 ? undefined : { status, end: end + 4, body: Buffer.concat(parts) };
    }
    const dataEnd = lineEnd + 2 + size;
    if (buf.length < dataEnd + 2) return undefined;
    parts.push(buf.subarray(lineEnd + 2, dataEnd));
    pos = dataEnd + 2;
  }
}

/**
 * Runs `connections` keep-alive connections against `url`, each sending its request (`requestFor(i)`
 * bytes) again as soon as the previous response has been read, until `shouldStop()` is true.
 * `onResponse(latencyMs, status, body)` is called for every response. Resolves when all connections are
 * done; connection errors are reported through `onError` and the connection is reopened.
 */
export function closedLoop(url, connections, requestFor, { shouldStop, onResponse, onError }) {
  const { hostname, port } = new URL(url);
  const worker = (i) =>
    new Promise((resolve) => {
      const request = requestFor(i);
      let socket;
      let buf = Buffer.alloc(0);
      let sentAt = 0;
      const send = () => {
        if (shouldStop()) {
          socket.end();
          resolve();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      const open = () => {
        buf = Buffer.alloc(0);
        socket = connect({ host: hostname, port: Number(port), noDelay: true });
        socket.on('connect', send);
        socket.on('data', (chunk) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          let res;
          try {
            res = parseResponse(buf);
          } catch (err) {
            onError(err);
            socket.destroy();
            return;
          }
          if (!res) return;
          onResponse(performance.now() - sentAt, res.status, res.body);
          buf = buf.subarray(res.end);
          send();
        });
        socket.on('error', (err) => onError(err));
        socket.on('close', () => {
          if (shouldStop()) resolve();
          else setTimeout(open, 10);
        });
      };
      open();
    });
  return Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
}
