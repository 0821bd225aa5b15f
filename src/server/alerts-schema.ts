import { z } from 'zod';
import { isPlainObject } from '../core/objects.js';
import { mapping, mustBe, text } from './schema-parts.js';

/** What a webhook is sent: a threshold crossed by a budget line, or a call refused by a policy. */
export type AlertEventType = 'threshold' | 'exhausted';

/** One webhook of the `alerts:` section. */
export interface AlertConfig {
  /** Where the signed JSON event is POSTed (http or https). */
  url: string;
  /**
   * The signing secret as written: a Standard Webhooks `whsec_<base64>` secret (the key is the decoded
   * bytes, at least 24), or any other non-empty string (the key is its UTF-8 bytes).
   */
  secret: string;
  /** The events sent to this URL; default both. */
  events: AlertEventType[];
}

const EVENTS: readonly AlertEventType[] = ['threshold', 'exhausted'];
const URL_RULE = 'must be an http:// or https:// URL';
/** Padded base64, as Standard Webhooks secrets are written (a typo must not decode to another key). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Shortest key a `whsec_` secret may hold, bytes (Standard Webhooks generates 24 to 64). */
const MIN_KEY_BYTES = 24;

function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** A secret is never echoed in a message: only its length and kind are. */
const secret = z.string({ error: (i) => `must be a non-empty string (got ${i.input === undefined ? 'nothing' : typeof i.input})` }).superRefine((s, ctx) => {
  if (s.length === 0) ctx.addIssue({ code: 'custom', message: 'must be a non-empty string (got an empty one)' });
  else if (s.startsWith('whsec_')) {
    const b64 = s.slice(6);
    if (b64.length === 0 || !BASE64.test(b64)) {
      ctx.addIssue({ code: 'custom', message: 'a secret starting with "whsec_" must continue with the key in base64 (Standard Webhooks); the value given is not valid base64' });
    } else if (Buffer.from(b64, 'base64').length < MIN_KEY_BYTES) {
      ctx.addIssue({ code: 'custom', message: `a "whsec_" secret must hold a key of at least ${MIN_KEY_BYTES} bytes (got ${Buffer.from(b64, 'base64').length})` });
    }
  }
});

const events = z
  .array(z.enum(EVENTS as [AlertEventType, ...AlertEventType[]], { error: mustBe(`must be ${EVENTS.join(' or ')}`) }), {
    error: mustBe(`must be a list of ${EVENTS.join(', ')}`),
  })
  .superRefine((list, ctx) => {
    if (list.length === 0) ctx.addIssue({ code: 'custom', message: `must name at least one of ${EVENTS.join(', ')} (leave it out for both)` });
    list.forEach((e, i) => {
      if (list.indexOf(e) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `lists ${e} twice` });
    });
  });

const webhook = mapping(
  {
    url: z.unknown().refine(isHttpUrl, { error: mustBe(URL_RULE) }).transform((v) => v as string),
    secret,
    events: events.optional(),
  },
  { ifNull: 'must be a mapping { url, secret, events } (got null)' },
);

/** Two webhooks to one URL would send each event twice. */
function checkUrlsUnique(list: unknown[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    if (!isPlainObject(item) || !isHttpUrl(item.url)) return;
    const before = seen.get(item.url as string);
    if (before !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'url'], message: `duplicates alerts[${before}].url: merge their events into one entry` });
    else seen.set(item.url as string, i);
  });
}

/**
 * `alerts:`: webhooks told when a budget line crosses one of its policy's thresholds (`threshold`) or a
 * call is refused (`exhausted`), POSTed as JSON signed as Standard Webhooks do. Undelivered events are
 * kept in the file `alerts_outbox` names (see {@link AlertsOutboxSection}).
 *
 * @example
 * ```yaml
 * alerts:
 *   - { url: https://hooks.example.com/budget, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, events: [threshold, exhausted] }
 * ```
 */
export const AlertsSection = z
  .array(webhook, { error: mustBe('must be a list of { url, secret, events }') })
  .superRefine(checkUrlsUnique, { when: (payload) => Array.isArray(payload.value) })
  .transform((list): AlertConfig[] => list.map((w) => ({ url: w.url, secret: w.secret, events: w.events ?? [...EVENTS] })));

/**
 * `alerts_outbox:`: the file undelivered alerts are kept in across restarts. Default: `alerts-outbox.jsonl`
 * beside the SQLite store's file, or beside the PostgreSQL store's spool when one is set, else
 * `.tokenwarden/alerts-outbox.jsonl` in the working directory. Relative paths are relative to the config file.
 */
export const AlertsOutboxSection = text();
