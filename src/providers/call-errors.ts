/**
 * Naming and secret-redaction helpers for provider errors (no I/O, so the mock backend can use them
 * without loading the HTTP stack).
 */
import { CallAbortedError } from '../core/errors.js';

/** Who is being called: enough to name it in a message. */
export interface CallTarget {
  provider: string;
  backend: string;
}

/** `openai backend "primary"`: how messages name the callee. */
export function describeTarget(target: CallTarget): string {
  return `${target.provider} backend ${JSON.stringify(target.backend)}`;
}

/** Replaces every secret (API key) in a message `text` with `[REDACTED]`; secrets under 4 characters are left alone. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[REDACTED]');
  }
  return out;
}

/**
 * The error for a call whose caller signal fired: the signal's reason if it is a CallAbortedError,
 * `CallAbortedError('timeout')` for an `AbortSignal.timeout()`, else `CallAbortedError('aborted')`.
 */
export function abortError(signal: { readonly reason: unknown }, target: CallTarget): CallAbortedError {
  const reason: unknown = signal.reason;
  if (reason instanceof CallAbortedError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new CallAbortedError('timeout', `Call to ${describeTarget(target)} timed out`);
  }
  return new CallAbortedError('aborted', `Call to ${describeTarget(target)} was aborted by the caller`);
}
