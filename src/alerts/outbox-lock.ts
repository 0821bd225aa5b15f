import { TokenwardenError } from '../core/errors.js';
import { PidLock } from '../core/pid-lock.js';

/**
 * The owner lock of an alert outbox (`<path>.lock`, see {@link PidLock}). Two senders on one outbox would
 * deliver everything twice, and one's compaction (a rename) would make the other append to a file no longer
 * there, so a second owner is refused (`ALERT_OUTBOX_LOCKED`); a dead owner's lock is taken over.
 */
export class OutboxLock extends PidLock {
  /** @param path the outbox file (absolute) */
  constructor(path: string) {
    super(path, {
      locked: (detail) => new TokenwardenError('ALERT_OUTBOX_LOCKED', `alert outbox ${detail}; give each sender (each gateway instance) its own outboxPath`),
      io: (message, cause) => new TokenwardenError('ALERT_OUTBOX_IO', `alert outbox: ${message}`, { cause }),
    });
  }
}
