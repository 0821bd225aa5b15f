import { createHash, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { HttpError } from './http-error.js';

/** A gateway key as configured: the SHA-256 of its secret, never the secret itself. */
export interface GatewayKey {
  name: string;
  /** SHA-256 of the bearer token: 64 hex digits, optionally prefixed `sha256:`. */
  sha256: string;
  /** The org whose threads and usage the key sees. Required unless `admin`. */
  org: string | null;
  /** Admin keys manage budgets and read every org's threads and usage. */
  admin?: boolean;
}

/** Who is calling: resolved from the bearer token (or everyone, when no keys are configured). */
export interface Principal {
  /** Name of the key used, `null` when keys are not configured. */
  keyName: string | null;
  /** The key's org (`null` for an admin key without one, or when keys are not configured). */
  org: string | null;
  admin: boolean;
}

/** The principal of every request when no keys are configured (loopback only). */
export const OPEN_PRINCIPAL: Principal = Object.freeze({ keyName: null, org: null, admin: true });

interface StoredKey {
  digest: Buffer;
  principal: Principal;
}

/**
 * `sha256:<hex>` of a secret, the form keys take in tokenwarden.yaml.
 *
 * @example
 * ```ts
 * hashGatewayKey('tw-secret-1'); // 'sha256:5f0c…'
 * ```
 */
export function hashGatewayKey(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/**
 * The configured gateway keys. {@link authenticate} hashes the bearer token and compares the digest
 * with every key's in constant time (`timingSafeEqual`, no early exit), so response timing reveals
 * neither which key nearly matched nor how many bytes did.
 *
 * @example
 * ```ts
 * const ring = new KeyRing([{ name: 'acme', sha256: hashGatewayKey('s3cret'), org: 'acme' }]);
 * ring.authenticate('Bearer s3cret'); // { keyName: 'acme', org: 'acme', admin: false }
 * ```
 */
export class KeyRing {
  private readonly keys: StoredKey[];

  constructor(keys: readonly GatewayKey[] = []) {
    this.keys = keys.map((k, i) => {
      const hex = k.sha256.startsWith('sha256:') ? k.sha256.slice(7) : k.sha256;
      if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ValidationError(`keys[${i}].sha256`, k.sha256, 'must be 64 hex digits');
      if (!k.admin && !k.org) throw new ValidationError(`keys[${i}].org`, k.org, 'is required for a non-admin key');
      return {
        digest: Buffer.from(hex, 'hex'),
        principal: Object.freeze({ keyName: k.name, org: k.org ?? null, admin: k.admin === true }),
      };
    });
  }

  /** Whether any key is configured (if not, the gateway is open and must stay on loopback). */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** Number of keys. */
  get size(): number {
    return this.keys.length;
  }

  /**
   * The principal for an `Authorization` header value. Throws a 401 {@link HttpError} when the header
   * is missing, malformed or matches no key. With no keys configured, returns {@link OPEN_PRINCIPAL}.
   */
  /** Whether `authorization` carries a valid admin key (never throws: for optional detail, e.g. `/readyz`). */
  isAdmin(authorization: string | undefined): boolean {
    if (this.keys.length === 0 || !authorization) return false;
    try {
      return this.authenticate(authorization).admin;
    } catch {
      return false;
    }
  }

  authenticate(authorization: string | undefined): Principal {
    if (this.keys.length === 0) return OPEN_PRINCIPAL;
    if (!authorization) {
      throw new HttpError(
        401,
        'authentication_error',
        'missing_api_key',
        'Missing gateway key: send "Authorization: Bearer <key>" (this gateway has keys configured)',
      );
    }
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) {
      throw new HttpError(401, 'authentication_error', 'invalid_api_key', 'Malformed Authorization header: expected "Bearer <key>"');
    }
    const digest = createHash('sha256').update(m[1]!, 'utf8').digest();
    let found: Principal | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(digest, key.digest) && found === undefined) found = key.principal;
    }
    if (!found) throw new HttpError(401, 'authentication_error', 'invalid_api_key', 'Invalid gateway key');
    return found;
  }
}
