import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TokenwardenError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';
import type { AlertEventType } from './alert-event.js';
import { OutboxLock } from './outbox-lock.js';

/** One delivery of one event to one endpoint, as the outbox keeps it until it is delivered or given up. */
export interface OutboxRecord {
  /** The delivery's id (`dlv_…`): what marks refer to. */
  id: string;
  /** The event's id (`msg_…`), sent as `webhook-id`: the same on every retry and for every endpoint. */
  msg: string;
  url: string;
  type: AlertEventType;
  /** The exact JSON body, kept as text so that every retry sends (and signs) the same bytes. */
  body: string;
  /** Epoch ms the delivery was queued. */
  at: number;
  /** Failed attempts so far. */
  attempts: number;
}

/** What happened to a delivery, appended as its own line (`{ id, delivered: true }`, …). */
export type OutboxMark = { delivered: true } | { dropped: true } | { attempts: number } | { failed: true; attempts: number; error: string };

/** Something worth knowing that did not stop the outbox: a torn or corrupt line, a failed compaction. */
export interface OutboxWarning {
  code: 'ALERT_OUTBOX_TORN_LINE' | 'ALERT_OUTBOX_CORRUPT_LINE' | 'ALERT_OUTBOX_COMPACT_FAILED';
  message: string;
  path: string;
}

/** Options of {@link AlertOutbox}. */
export interface AlertOutboxOptions {
  /** Rewrite the file once it reaches this many bytes (and again at twice what is left after). */
  compactBytes: number;
  /** Given-up deliveries kept in the file through compactions (the newest). */
  maxFailed: number;
  warn: (warning: OutboxWarning) => void;
}

/**
 * The durable queue of webhook deliveries: a file of JSON lines, one per delivery record and one per
 * mark (`{ id, delivered: true }`, `{ id, attempts }`, `{ id, failed: true, … }`, `{ id, dropped: true }`).
 * Every line is appended with one write and `fdatasync`ed before the call returns, so what `add` accepted
 * survives a crash or a power loss. When the file grows past `compactBytes` it is rewritten with only
 * the pending and (the newest `maxFailed`) given-up records, into a temporary file renamed over it, so a
 * crash mid-compaction leaves either file whole. `open()` skips a corrupt line and cuts off a torn last
 * line (an append cut short by a crash, never acknowledged), each with a warning.
 *
 * @example
 * ```ts
 * const outbox = new AlertOutbox('.tokenwarden/alerts.jsonl', { compactBytes: 1 << 20, maxFailed: 1000, warn: console.warn });
 * const pending = outbox.open();
 * outbox.add(record);
 * outbox.mark(record.id, { delivered: true });
 * ```
 */
export class AlertOutbox {
  readonly path: string;
  private readonly o: AlertOutboxOptions;
  private readonly lock: OutboxLock;
  private fd = -1;
  private bytes = 0;
  /** Bytes the pending and kept failed records would take in a compacted file (what is not dead). */
  private live = 0;
  private readonly sizes = new Map<string, number>();
  /** After a failed compaction, the size to reach before trying again. */
  private retryCompactAt = 0;
  private readonly pending = new Map<string, OutboxRecord>();
  private readonly failed = new Map<string, { record: OutboxRecord; error: string }>();

  constructor(path: string, options: AlertOutboxOptions) {
    this.path = resolve(path);
    this.o = options;
    this.lock = new OutboxLock(this.path);
  }

  /**
   * Takes the outbox (`<path>.lock`; throws `ALERT_OUTBOX_LOCKED` while another sender has it), opens or
   * creates the file and returns the deliveries still pending in it, oldest first.
   */
  open(): OutboxRecord[] {
    if (this.fd >= 0) return [...this.pending.values()];
    try {
      mkdirSync(dirname(this.path), { recursive: true });
    } catch (err) {
      throw new TokenwardenError('ALERT_OUTBOX_IO', `cannot create the directory of the alert outbox ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    this.lock.take();
    try {
      this.read();
    } catch (err) {
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      this.lock.release();
      throw new TokenwardenError('ALERT_OUTBOX_IO', `cannot open the alert outbox ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    return [...this.pending.values()];
  }

  private read(): void {
    let file: Buffer = Buffer.alloc(0);
    try {
      file = readFileSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const whole = file.subarray(0, file.lastIndexOf(0x0a) + 1);
    this.fd = openSync(this.path, 'a');
    if (whole.length < file.length) this.cutTornTail(file.length - whole.length, whole.length);
    this.bytes = whole.length;
    let offset = 0;
    for (const line of whole.toString('utf8').split('\n')) {
      if (line.length > 0) this.load(line, offset);
      offset += Buffer.byteLength(line) + 1;
    }
  }

  /** Appends a new delivery, durably (throws when the file cannot be written: nothing was added). */
  add(record: OutboxRecord): void {
    const line = JSON.stringify(record);
    this.append(line);
    this.pending.set(record.id, record);
    this.sized(record.id, Buffer.byteLength(line) + 1);
  }

  /** Appends what happened to a delivery, durably; compacts the file when it has grown enough. */
  mark(id: string, mark: OutboxMark): void {
    this.append(JSON.stringify({ id, ...mark }));
    this.apply(id, mark);
    // Amortized: rewrite only once at least half the file is dead, so each byte is copied O(1) times.
    if (this.bytes >= this.o.compactBytes && this.bytes >= 2 * this.live && this.bytes >= this.retryCompactAt) this.compact();
  }

  /** Deliveries pending in the file. */
  get size(): number {
    return this.pending.size;
  }

  /** Closes the file and releases the lock; what is pending stays in the file for the next `open()`. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    this.lock.release();
    this.pending.clear();
    this.failed.clear();
    this.sizes.clear();
    this.live = 0;
  }

  private append(line: string): void {
    if (this.fd < 0) throw new Error(`alert outbox ${this.path} is not open`);
    const buf = Buffer.from(line + '\n', 'utf8');
    try {
      let written = 0;
      while (written < buf.length) written += writeSync(this.fd, buf, written, buf.length - written);
      fdatasyncSync(this.fd);
    } catch (err) {
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        // The cut-back failed too; open() will treat the remains as a torn line.
      }
      throw new Error(`cannot write to the alert outbox ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    this.bytes += buf.length;
  }

  private apply(id: string, mark: OutboxMark): void {
    const record = this.pending.get(id);
    if (record === undefined) return;
    if ('delivered' in mark || 'dropped' in mark) {
      this.pending.delete(id);
      this.sized(id, 0);
    } else if ('failed' in mark) {
      this.pending.delete(id);
      record.attempts = mark.attempts;
      this.keepFailed(record, mark.error);
    } else {
      record.attempts = mark.attempts;
    }
  }

  private keepFailed(record: OutboxRecord, error: string): void {
    this.failed.set(record.id, { record, error });
    this.sized(record.id, Buffer.byteLength(failedLine(record, error)));
    // Oldest first (insertion order): the newest maxFailed stay.
    for (const id of this.failed.keys()) {
      if (this.failed.size <= this.o.maxFailed) break;
      this.failed.delete(id);
      this.sized(id, 0);
    }
  }

  /** Sets the bytes a record would take in a compacted file (0: none, it is gone). */
  private sized(id: string, bytes: number): void {
    this.live += bytes - (this.sizes.get(id) ?? 0);
    if (bytes > 0) this.sizes.set(id, bytes);
    else this.sizes.delete(id);
  }

  private load(line: string, offset: number): void {
    const value = parseLine(line);
    if (value === undefined) {
      this.o.warn({
        code: 'ALERT_OUTBOX_CORRUPT_LINE',
        path: this.path,
        message: `alert outbox ${this.path}: skipped a line at offset ${offset} that is not an outbox record`,
      });
      return;
    }
    if ('record' in value) {
      if (value.failed !== undefined) {
        this.keepFailed(value.record, value.failed);
      } else {
        this.pending.set(value.record.id, value.record);
        this.sized(value.record.id, Buffer.byteLength(line) + 1);
      }
    } else {
      this.apply(value.id, value.mark);
    }
  }

  private cutTornTail(torn: number, keep: number): void {
    ftruncateSync(this.fd, keep);
    this.o.warn({
      code: 'ALERT_OUTBOX_TORN_LINE',
      path: this.path,
      message: `alert outbox ${this.path}: removed an unfinished last line (${torn} bytes) left by an interrupted write; it was never acknowledged`,
    });
  }

  private compact(): void {
    const tmp = `${this.path}.compact`;
    let out = -1;
    try {
      const lines: Array<[string, string]> = [
        ...[...this.failed.values()].map(({ record, error }): [string, string] => [record.id, failedLine(record, error)]),
        ...[...this.pending.values()].map((record): [string, string] => [record.id, JSON.stringify(record) + '\n']),
      ];
      const buf = Buffer.from(lines.map(([, line]) => line).join(''), 'utf8');
      out = openSync(tmp, 'w');
      let written = 0;
      while (written < buf.length) written += writeSync(out, buf, written, buf.length - written);
      fdatasyncSync(out);
      closeSync(out);
      out = -1;
      renameSync(tmp, this.path);
      syncDirectory(dirname(this.path));
      closeSync(this.fd);
      this.fd = openSync(this.path, 'a');
      this.bytes = buf.length;
      for (const [id, line] of lines) this.sized(id, Buffer.byteLength(line));
    } catch (err) {
      if (out >= 0) closeSync(out);
      try {
        unlinkSync(tmp);
      } catch {
        // Nothing to clean up.
      }
      // Try again only after as much growth again, not on every mark.
      this.retryCompactAt = this.bytes * 2;
      this.o.warn({
        code: 'ALERT_OUTBOX_COMPACT_FAILED',
        path: this.path,
        message: `alert outbox ${this.path}: compaction failed, keeping the file as is: ${errorMessage(err)}`,
      });
    }
  }
}

/** A given-up record as compaction writes it: the record with `failed: true` and why. */
function failedLine(record: OutboxRecord, error: string): string {
  return JSON.stringify({ ...record, failed: true, error }) + '\n';
}

type ParsedLine = { record: OutboxRecord; failed: string | undefined } | { id: string; mark: OutboxMark };

/** A record line (a delivery, possibly already given up as compaction writes it) or a mark line; `undefined` for anything else. */
function parseLine(line: string): ParsedLine | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.id !== 'string') return undefined;
  const attempts = typeof v.attempts === 'number' && Number.isInteger(v.attempts) && v.attempts >= 0 ? v.attempts : undefined;
  if (typeof v.msg === 'string' && typeof v.url === 'string' && typeof v.body === 'string' && typeof v.at === 'number' &&
    (v.type === 'budget.threshold' || v.type === 'budget.exhausted')) {
    const record: OutboxRecord = { id: v.id, msg: v.msg, url: v.url, type: v.type, body: v.body, at: v.at, attempts: attempts ?? 0 };
    return { record, failed: v.failed === true ? String(v.error ?? 'gave up') : undefined };
  }
  if (v.delivered === true) return { id: v.id, mark: { delivered: true } };
  if (v.dropped === true) return { id: v.id, mark: { dropped: true } };
  if (v.failed === true) return { id: v.id, mark: { failed: true, attempts: attempts ?? 0, error: String(v.error ?? 'gave up') } };
  if (attempts !== undefined) return { id: v.id, mark: { attempts } };
  return undefined;
}

/** Makes a rename durable (the directory entry); not possible on every platform, where the rename itself is what there is. */
function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open a directory; the rename stays atomic, only its durability on power loss is weaker.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
