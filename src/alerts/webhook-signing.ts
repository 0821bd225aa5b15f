import { createHmac, randomBytes } from 'node:crypto';

/** The prefix of a Standard Webhooks symmetric secret: `whsec_` then the key bytes in base64. */
export const WHSEC_PREFIX = 'whsec_';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key of an endpoint secret. A `whsec_<base64>` secret (the Standard Webhooks form, what their
 * receiver libraries expect) is the base64-decoded bytes; any other secret is used as its UTF-8 bytes.
 * Returns `undefined` for a `whsec_` secret whose rest is not base64 (the option check reports it).
 *
 * @example
 * ```ts
 * webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').length; // 24
 * ```
 */
export function webhookKey(secret: string): Buffer | undefined {
  if (!secret.startsWith(WHSEC_PREFIX)) return Buffer.from(secret, 'utf8');
  const encoded = secret.slice(WHSEC_PREFIX.length);
  // Buffer.from(…, 'base64') skips bad characters silently; a typo must not become a different key.
  if (encoded.length === 0 || !BASE64.test(encoded)) return undefined;
  return Buffer.from(encoded, 'base64');
}

/**
 * The `webhook-signature` value of one attempt: `v1,` then the base64 HMAC-SHA256 of
 * `${id}.${timestamp}.${body}` under `key` (Standard Webhooks 1.0, symmetric).
 *
 * @example
 * ```ts
 * signWebhook(webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')!, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
 * // 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
 * ```
 */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/**
 * The three Standard Webhooks headers of one attempt, plus the JSON content type. The timestamp is the
 * attempt's (a retry is signed anew), the id the message's (the same on every retry, so receivers dedupe).
 */
export function webhookHeaders(key: Buffer, id: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(key, id, timestampSeconds, body),
  };
}

/** A random id with a prefix (`msg_…`, `dlv_…`): 120 random bits, base64url, never a `.` (the signed content's separator). */
export function randomId(prefix: string): string {
  return `${prefix}${randomBytes(15).toString('base64url')}`;
}
