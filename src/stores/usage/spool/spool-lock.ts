import { PidLock } from '../../../core/pid-lock.js';
import { UsageStoreError } from '../../../usage/store-error.js';

/**
 * The owner lock of an {@link EventSpool} (`<path>.lock`, see {@link PidLock}): one process writes a spool at
 * a time (`SPOOL_LOCKED` otherwise); a lock left by a process that is gone is taken over.
 */
export class SpoolLock extends PidLock {
  /** @param path the spool file (absolute) */
  constructor(path: string) {
    super(path, {
      locked: (detail) => new UsageStoreError('SPOOL_LOCKED', path, `spool ${detail}; give each store (each process) its own spoolPath`),
      io: (message, cause) => new UsageStoreError('SPOOL_IO', path, `spool: ${message}`, { cause }),
    });
  }
}
