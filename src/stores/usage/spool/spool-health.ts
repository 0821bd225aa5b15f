import { unlinkSync, writeFileSync } from 'node:fs';
import type { EventSpool } from './event-spool.js';

/** How often the spool file is checked (one `fstat` and one `stat`). */
const CHECK_INTERVAL_MS = 100;

/**
 * Whether a spool can still make events durable, for the PostgreSQL store's readiness:
 * - its file was deleted or replaced while open (checked on a 100 ms timer, never per append): lines
 *   written now would go to a file nobody reads again, so appends are refused;
 * - its last write failed (disk full, I/O error): reported until a probe write (64 KiB next to the
 *   spool, then removed) or a later append succeeds.
 */
export class SpoolHealth {
  private fileProblem: string | undefined;
  private writeFailure: string | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastProbe = 0;

  constructor(private readonly spool: EventSpool) {}

  /** Starts the periodic file check (unref'd). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.checkFile(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Set when appends must be refused: the spool file is gone or replaced. */
  get refusal(): string | undefined {
    return this.fileProblem;
  }

  noteWrite(err?: unknown): void {
    this.writeFailure = err === undefined ? undefined : `cannot write to spool ${this.spool.path}: ${(err as Error).message ?? String(err)}`;
  }

  /** Checks now (the file, then a probe write after a failed one); the problem, or undefined. */
  check(): string | undefined {
    this.checkFile();
    if (this.fileProblem) return this.fileProblem;
    // At most one probe a second, so readiness stays cheap enough to ask per request.
    if (this.writeFailure !== undefined && Date.now() - this.lastProbe >= 1000) {
      this.lastProbe = Date.now();
      const probe = `${this.spool.path}.probe`;
      try {
        writeFileSync(probe, Buffer.alloc(64 * 1024));
        unlinkSync(probe);
        this.writeFailure = undefined;
      } catch (err) {
        try {
          unlinkSync(probe);
        } catch {
          // nothing was created
        }
        this.noteWrite(err);
      }
    }
    return this.writeFailure;
  }

  private checkFile(): void {
    try {
      this.fileProblem = this.spool.fileProblem();
    } catch (err) {
      this.fileProblem = `spool file ${this.spool.path} cannot be checked (${(err as Error).message})`;
    }
  }
}
