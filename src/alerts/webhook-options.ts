import { z } from 'zod';
import { functionOption, integerAtLeast, unknownKey } from '../core/option-schemas.js';
import { optionsPrefix, parseOptions } from '../core/options.js';
import type { OutboxWarning } from './alert-outbox.js';
import type { WebhookFetch } from './webhook-delivery.js';
import { webhookKey, WHSEC_PREFIX } from './webhook-signing.js';

/** The alert kinds an endpoint can subscribe to (`PolicyAlert.type`). */
export type AlertKind = 'threshold' | 'exhausted';

/** One receiver of alerts. */
export interface WebhookEndpoint {
  /** `http://` or `https://` URL the events are POSTed to. */
  url: string;
  /**
   * The signing secret: `whsec_<base64>` (Standard Webhooks; the key is the decoded bytes, at least 24) or
   * any other non-empty string (its UTF-8 bytes are the key).
   */
  secret: string;
  /** Which alerts this endpoint receives. Default both. */
  events?: AlertKind[];
}

/** A warning of {@link WebhookAlerts}: the outbox's, or a delivery given up, alerts dropped, an outbox write failed. */
export interface AlertWarning {
  code:
    | OutboxWarning['code']
    | 'ALERT_DELIVERY_FAILED'
    | 'ALERT_DROPPED'
    | 'ALERT_OUTBOX_WRITE_FAILED'
    | 'ALERT_ENDPOINT_GONE'
    | 'ALERT_AFTER_CLOSE';
  message: string;
}

/** Options of {@link WebhookAlerts}. */
export interface WebhookAlertsOptions {
  endpoints: WebhookEndpoint[];
  /** The outbox file (JSON lines; its directory is created). One running instance per file. */
  outboxPath: string;
  /** Delays in ms before each retry; after the last, the delivery is given up. Default 1 s, 5 s, 30 s, 2 min, 10 min, 30 min. */
  retry?: number[];
  /** Each delay varies by up to ± this fraction, so that many deliveries failing together do not retry in step. Default 0.1. */
  jitter?: number;
  /** A delivery attempt without an answer by then fails (and is retried). Default 10 000. */
  timeoutMs?: number;
  /** Deliveries at once. Default 4. */
  concurrency?: number;
  /** Deliveries pending at most (in memory and in the outbox); beyond it the oldest is dropped and counted. Default 10 000. */
  maxQueued?: number;
  /** Given-up deliveries kept in the outbox file for inspection (the newest). Default 1000. */
  maxFailed?: number;
  /** Compact the outbox file once it reaches this many bytes. Default 1 MiB. */
  compactBytes?: number;
  /** `close()` waits this long for deliveries in flight, then aborts them (they stay pending). Default 5000. */
  closeTimeoutMs?: number;
  /** The clock (epoch ms) for `webhook-timestamp`. Default `Date.now`. */
  now?: () => number;
  /** The HTTP client. Default the global `fetch`. */
  fetch?: WebhookFetch;
  /** Receives warnings. Default `process.emitWarning`. */
  onWarning?: (warning: AlertWarning) => void;
}

/** The endpoint as delivery uses it: its key decoded once. */
export interface ResolvedEndpoint {
  url: string;
  key: Buffer;
  events: ReadonlySet<AlertKind>;
}

/** {@link WebhookAlertsOptions} checked, defaults applied. */
export interface ResolvedWebhookOptions {
  endpoints: ResolvedEndpoint[];
  outboxPath: string;
  retry: number[];
  jitter: number;
  timeoutMs: number;
  concurrency: number;
  maxQueued: number;
  maxFailed: number;
  compactBytes: number;
  closeTimeoutMs: number;
  now: () => number;
  fetch: WebhookFetch;
  warn: (warning: AlertWarning) => void;
}

const ENDPOINT_KEYS = ['url', 'secret', 'events'];
const OPTION_KEYS = ['endpoints', 'outboxPath', 'retry', 'jitter', 'timeoutMs', 'concurrency', 'maxQueued', 'maxFailed', 'compactBytes',
  'closeTimeoutMs', 'now', 'fetch', 'onWarning'];
const SECRET_ERROR = `must be a non-empty string; a ${WHSEC_PREFIX} secret must be base64 of at least 24 bytes`;

const url = z.string({ error: 'must be an http:// or https:// URL' }).refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, { error: 'must be an http:// or https:// URL' });

// The secret is never echoed in a message (`got` is redacted).
const secret = z.unknown().refine((v) => {
  if (typeof v !== 'string' || v.length === 0) return false;
  const key = webhookKey(v);
  return key !== undefined && (!v.startsWith(WHSEC_PREFIX) || key.length >= 24);
}, { error: SECRET_ERROR, params: { got: '[redacted]' } }).transform((v) => v as string);

const Endpoint = z
  .object({
    url,
    secret,
    events: z
      .array(z.enum(['threshold', 'exhausted'], { error: 'must be "threshold" or "exhausted"' }), { error: 'must be a list of "threshold", "exhausted"' })
      .min(1, { error: 'must name at least one event (leave it out for both)' })
      .optional(),
  })
  .catchall(unknownKey(`unknown endpoint option (expected one of ${ENDPOINT_KEYS.join(', ')})`));

const delay = integerAtLeast(0);
const Schema = z
  .object({
    endpoints: z
      .array(Endpoint, { error: 'must be a list of { url, secret, events? }' })
      .min(1, { error: 'must list at least one endpoint' })
      .refine((list) => new Set(list.map((e) => e.url)).size === list.length, { error: 'must not list a url twice' }),
    outboxPath: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }),
    retry: z.array(delay, { error: 'must be a list of delays in ms' }).max(100, { error: 'must list at most 100 delays' })
      .default([1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000]),
    jitter: z.number({ error: 'must be a number from 0 to 1' }).min(0, { error: 'must be a number from 0 to 1' })
      .max(1, { error: 'must be a number from 0 to 1' }).default(0.1),
    timeoutMs: integerAtLeast(1).default(10_000),
    concurrency: integerAtLeast(1).default(4),
    maxQueued: integerAtLeast(1).default(10_000),
    maxFailed: integerAtLeast(0).default(1_000),
    compactBytes: integerAtLeast(1).default(1 << 20),
    closeTimeoutMs: integerAtLeast(0).default(5_000),
    now: functionOption<() => number>().optional(),
    fetch: functionOption<WebhookFetch>().optional(),
    onWarning: functionOption<(warning: AlertWarning) => void>().optional(),
  })
  .catchall(unknownKey(`unknown WebhookAlerts option (expected one of ${OPTION_KEYS.join(', ')})`));

/** Checks {@link WebhookAlertsOptions} (each problem names its option, e.g. `endpoints[0].url`) and applies the defaults. */
export function resolveWebhookOptions(options: WebhookAlertsOptions): ResolvedWebhookOptions {
  const o = parseOptions(Schema, options, optionsPrefix(options));
  return {
    endpoints: o.endpoints.map((e) => ({
      url: e.url,
      key: webhookKey(e.secret)!,
      events: new Set<AlertKind>(e.events ?? ['threshold', 'exhausted']),
    })),
    outboxPath: o.outboxPath,
    retry: o.retry,
    jitter: o.jitter,
    timeoutMs: o.timeoutMs,
    concurrency: o.concurrency,
    maxQueued: o.maxQueued,
    maxFailed: o.maxFailed,
    compactBytes: o.compactBytes,
    closeTimeoutMs: o.closeTimeoutMs,
    now: o.now ?? Date.now,
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
    warn: o.onWarning ?? ((w) => process.emitWarning(w.message, { code: w.code })),
  };
}
