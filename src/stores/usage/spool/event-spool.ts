import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import { parseOptions } from '../../../core/options.js';
import type { UsageEvent } from '../../../usage/types.js';
import { fileChange } from '../shared/file-health.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { assertUsageEvents } from '../shared/usage-row.js';
import { SpoolLock } from './spool-lock.js';
import { errorMessage } from '../../../core/error-fields.js';

/** Something worth knowing that did not stop the spool: a torn or corrupt line, a failed compaction. */
export interface SpoolWarning {
  code: 'SPOOL_TORN_LINE' | 'SPOOL_CORRUPT_LINE' | 'SPOOL_COMPACT_FAILED';
  message: string;
  path: string;
}

/** What {@link EventSpool.open} found left over from a previous run. */
export interface SpoolRecovery {
  /** Complete lines (events not yet confirmed by the database) found in the file. */
  lines: number;
  /** Bytes of an unfinished last line (a write cut by `kill -9`), removed from the file. */
  tornBytes: number;
}

/** One spooled event and the logical offset just past its line (confirm up to it once stored). */
export interface SpoolEntry {
  event: UsageEvent;
  end: number;
}

/** Options of {@link EventSpool}. */
export interface EventSpoolOptions {
  /** The spool file (JSON lines). Its directory is created; `<path>.lock` marks the owning process. */
  path: string;
  /** `fdatasync` after every append: survives power loss, not only a killed process. Default false. */
  fsync?: boolean;
  /** Rewrite the file once this many confirmed bytes sit before unconfirmed ones. Default 4 MiB. */
  compactBytes?: number;
  /** Receives torn/corrupt-line and compaction warnings. */
  onWarning?: (warning: SpoolWarning) => void;
}

const SpoolOptionsSchema = z.object({
  fsync: z.boolean({ error: 'must be true or false' }).default(false),
  compactBytes: z
    .number({ error: 'must be an integer >= 1' })
    .int({ error: 'must be an integer >= 1' })
    .min(1, { error: 'must be an integer >= 1' })
    .default(4 * 1024 * 1024),
  onWarning: z.custom<(warning: SpoolWarning) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
});

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

/**
 * An append-only local log of usage events (one JSON line each) that makes an asynchronous backend
 * crash-safe: `append()` writes synchronously (`writeSync`), so once it returns the bytes are in the
 * operating system and survive `kill -9` of this process (add `fsync: true` to survive power loss too).
 * A flusher reads entries back with `read()`, stores them, then `confirm()`s them; confirmed bytes are
 * dropped by truncating the file when everything is confirmed, or by rewriting it once enough confirmed
 * bytes pile up in front of unconfirmed ones. `open()` finds what a previous run left unconfirmed and
 * cuts off a torn last line (a write interrupted by a crash, never acknowledged).
 *
 * Offsets are logical: they keep increasing across truncation and compaction.
 * One process owns a spool at a time (`<path>.lock` holds its pid; a dead owner's lock is taken over).
 *
 * @example
 * ```ts
 * const spool = new EventSpool({ path: '.tokenwarden/spool/usage.jsonl' });
 * const { lines } = spool.open();               // left over from a crash
 * const { ends } = spool.append([event]);       // durable against kill -9 once this returns
 * const { entries, next } = spool.read(spool.start, 500);
 * // ...store entries in the database, then:
 * spool.confirm(next);
 * ```
 */
export class EventSpool {
  /** Absolute path of the spool file. */
  readonly path: string;
  private readonly spoolLock: SpoolLock;
  private readonly fsync: boolean;
  private readonly compactBytes: number;
  private readonly onWarning: (warning: SpoolWarning) => void;
  private fd = -1;
  private base = 0;
  private size = 0;
  private confirmedTo = 0;

  constructor(options: EventSpoolOptions) {
    if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
    // By hand: the path is reported as the store option users set, `spoolPath`.
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ValidationError('spoolPath', options.path, 'must be a non-empty file path');
    }
    const { fsync, compactBytes, onWarning } = parseOptions(SpoolOptionsSchema, options);
    this.path = resolve(options.path);
    this.spoolLock = new SpoolLock(this.path);
    this.fsync = fsync;
    this.compactBytes = compactBytes;
    this.onWarning = onWarning ?? (() => {});
  }

  /** Whether {@link open} has been called (and {@link close} not yet). */
  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /** Logical offset of the first byte still in the file. */
  get start(): number {
    return this.base;
  }

  /** Logical offset just past the last byte written. */
  get end(): number {
    return this.base + this.size;
  }

  /** Bytes currently in the file. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Takes ownership of the spool file (creating it and its directory), scans what a previous run left
   * and removes a torn last line. Throws `SPOOL_LOCKED` if a live process owns it.
   */
  open(): SpoolRecovery {
    if (this.fd >= 0) return { lines: 0, tornBytes: 0 };
    try {
      mkdirSync(dirname(this.path), { recursive: true });
    } catch (err) {
      throw new UsageStoreError('SPOOL_IO', this.path, `cannot create the spool directory for ${this.path}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.spoolLock.take();
    try {
      this.fd = openSync(this.path, 'a+');
      this.size = fstatSync(this.fd).size;
      this.base = 0;
      this.confirmedTo = 0;
      return this.scan();
    } catch (err) {
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      this.spoolLock.release();
      if (err instanceof UsageStoreError) throw err;
      throw new UsageStoreError('SPOOL_IO', this.path, `cannot open spool ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Appends events as JSON lines with one synchronous write. Returns the logical offset where they
   * start and, per event, the offset just past its line. On a failed write the file is cut back so no
   * partial line is left, and a `SPOOL_IO` error is thrown (the events were not spooled).
   */
  append(events: readonly UsageEvent[]): { start: number; ends: number[] } {
    this.assertOpen();
    const start = this.end;
    const ends: number[] = [];
    let text = '';
    let offset = start;
    for (const event of events) {
      const line = JSON.stringify(event) + '\n';
      text += line;
      offset += Buffer.byteLength(line);
      ends.push(offset);
    }
    const buf = Buffer.from(text, 'utf8');
    try {
      let written = 0;
      while (written < buf.length) written += writeSync(this.fd, buf, written, buf.length - written);
      if (this.fsync) fdatasyncSync(this.fd);
    } catch (err) {
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // The cut-back failed too; open() will treat the remains as a torn line.
      }
      throw new UsageStoreError('SPOOL_IO', this.path, `cannot write to spool ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    this.size += buf.length;
    return { start, ends };
  }

  /**
   * Reads up to `maxEvents` events starting at logical offset `from`. Lines that are not valid events
   * are skipped (counted in `skipped` and reported once each). `next` is the offset after the last line
   * consumed, including skipped ones.
   */
  read(from: number, maxEvents: number): { entries: SpoolEntry[]; next: number; skipped: number } {
    this.assertOpen();
    if (from < this.base || from > this.end) {
      throw new ValidationError('from', from, `must be within the spool (${this.base}..${this.end})`);
    }
    const entries: SpoolEntry[] = [];
    let skipped = 0;
    let next = from;
    let pos = from - this.base;
    let carry: Buffer = Buffer.alloc(0);
    while (entries.length < maxEvents && pos < this.size) {
      const len = Math.min(CHUNK, this.size - pos);
      const chunk = Buffer.allocUnsafe(len);
      const got = readSync(this.fd, chunk, 0, len, pos);
      if (got <= 0) break;
      pos += got;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, got)]) : chunk.subarray(0, got);
      const dataStart = this.base + pos - data.length;
      let lineStart = 0;
      while (entries.length < maxEvents) {
        const nl = data.indexOf(NEWLINE, lineStart);
        if (nl < 0) break;
        const end = dataStart + nl + 1;
        const event = this.parseLine(data.subarray(lineStart, nl), dataStart + lineStart);
        if (event) entries.push({ event, end });
        else skipped++;
        next = end;
        lineStart = nl + 1;
      }
      carry = data.subarray(lineStart);
    }
    return { entries, next, skipped };
  }

  /**
   * Marks everything before logical offset `upTo` as stored. Truncates the file when nothing
   * unconfirmed remains; rewrites it when at least `compactBytes` (and half the file) are confirmed.
   */
  confirm(upTo: number): void {
    this.assertOpen();
    if (upTo > this.end) throw new ValidationError('upTo', upTo, `must not be beyond the spool end (${this.end})`);
    if (upTo <= this.confirmedTo) return;
    this.confirmedTo = upTo;
    if (upTo === this.end) {
      ftruncateSync(this.fd, 0);
      this.base = upTo;
      this.size = 0;
      return;
    }
    const dead = upTo - this.base;
    if (dead >= this.compactBytes && dead * 2 >= this.size) this.compact(dead);
  }

  /** Why the file at `path` is no longer the one being written (deleted or replaced), or undefined. */
  fileProblem(): string | undefined {
    if (this.fd < 0) return undefined;
    const s = fstatSync(this.fd);
    const change = fileChange(this.path, { dev: s.dev, ino: s.ino });
    return change ? `spool file ${this.path} ${change} while in use` : undefined;
  }

  /** Closes the file and releases the lock. Unconfirmed lines stay for the next `open()`. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    this.spoolLock.release();
  }

  private scan(): SpoolRecovery {
    let lines = 0;
    let lastNewline = -1;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0; pos < this.size; ) {
      const got = readSync(this.fd, buf, 0, Math.min(CHUNK, this.size - pos), pos);
      if (got <= 0) break;
      for (let i = buf.indexOf(NEWLINE, 0); i >= 0 && i < got; i = buf.indexOf(NEWLINE, i + 1)) {
        lines++;
        lastNewline = pos + i;
      }
      pos += got;
    }
    const tornBytes = this.size - (lastNewline + 1);
    if (tornBytes > 0) {
      ftruncateSync(this.fd, lastNewline + 1);
      this.size = lastNewline + 1;
      this.onWarning({
        code: 'SPOOL_TORN_LINE',
        path: this.path,
        message:
          `spool ${this.path}: removed an unfinished last line (${tornBytes} bytes) left by an interrupted write; ` +
          `its event was never acknowledged`,
      });
    }
    return { lines, tornBytes };
  }

  private parseLine(line: Buffer, offset: number): UsageEvent | undefined {
    try {
      const [event] = assertUsageEvents(JSON.parse(line.toString('utf8')));
      return event;
    } catch (err) {
      this.onWarning({
        code: 'SPOOL_CORRUPT_LINE',
        path: this.path,
        message: `spool ${this.path}: skipped a line at offset ${offset - this.base} that is not a usage event (${errorMessage(err)})`,
      });
      return undefined;
    }
  }

  private compact(dead: number): void {
    const tmp = `${this.path}.compact`;
    let out = -1;
    try {
      out = openSync(tmp, 'w');
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let pos = dead; pos < this.size; ) {
        const got = readSync(this.fd, buf, 0, Math.min(CHUNK, this.size - pos), pos);
        if (got <= 0) throw new Error(`short read at ${pos}`);
        let written = 0;
        while (written < got) written += writeSync(out, buf, written, got - written);
        pos += got;
      }
      fdatasyncSync(out);
      closeSync(out);
      out = -1;
      renameSync(tmp, this.path);
      closeSync(this.fd);
      this.fd = openSync(this.path, 'a+');
      this.base += dead;
      this.size -= dead;
    } catch (err) {
      if (out >= 0) closeSync(out);
      try {
        unlinkSync(tmp);
      } catch {
        // Nothing to clean up.
      }
      this.onWarning({
        code: 'SPOOL_COMPACT_FAILED',
        path: this.path,
        message: `spool ${this.path}: compaction failed, keeping the file as is: ${errorMessage(err)}`,
      });
    }
  }

  private assertOpen(): void {
    if (this.fd < 0) throw new UsageStoreError('STORE_CLOSED', this.path, `spool ${this.path} is not open`);
  }
}
