import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { tokenwardenTracer, tracingInstalled } from './instruments.js';
import { ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE } from './semconv.js';

/** The server span of one HTTP request; inert without a tracing SDK. */
export interface ServerSpan {
  /** Runs `fn` (the request's handling) in the request's context: the span active, the caller's trace continued. */
  run<T>(fn: () => T): T;
  /** Ends the span with the route it matched (`http.route`, and the span's name) and the status sent. Once. */
  end(route: string | undefined, status: number): void;
}

const INERT: ServerSpan = { run: (fn) => fn(), end: () => undefined };

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/**
 * Starts the SERVER span of an HTTP request, continuing the caller's trace: the incoming `traceparent`
 * (and whatever else the propagator the SDK registered reads) is extracted with `propagation.extract`, so
 * the span is a child of the client's. Named `{method}` until the route is known, then `{method} {route}`
 * (HTTP server conventions), with `http.request.method`, `url.path`, `http.route`, `http.response.status_code`
 * and, for a 5xx, status ERROR with `error.type` the status code.
 *
 * @example
 * ```ts
 * const span = startServerSpan(req.method ?? 'GET', path, req.headers);
 * res.on('close', () => span.end('/v1/chat/completions', res.statusCode));
 * await span.run(() => handle(req, res));
 * ```
 */
export function startServerSpan(method: string, path: string, headers: IncomingHttpHeaders): ServerSpan {
  if (!tracingInstalled()) return INERT;
  const parent = propagation.extract(context.active(), headers, headerGetter);
  const span = tokenwardenTracer().startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path } },
    parent,
  );
  return new RequestSpan(span, parent, method);
}

class RequestSpan implements ServerSpan {
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly parent: Context,
    private readonly method: string,
  ) {}

  run<T>(fn: () => T): T {
    return context.with(trace.setSpan(this.parent, this.span), fn);
  }

  end(route: string | undefined, status: number): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if (span.isRecording()) {
      if (route !== undefined) {
        span.updateName(`${this.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute(HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute(ERROR_TYPE, String(status));
      }
    }
    span.end();
  }
}
