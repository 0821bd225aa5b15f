import { formatInteger } from './cell-format.js';
import type { ReportCommandIO } from './types.js';

/** A one-line progress indicator on stderr, shown only on a terminal; updated at most every 100 ms. */
export class Progress {
  readonly enabled: boolean;
  private shown = false;
  private last = 0;

  constructor(private readonly io: ReportCommandIO) {
    this.enabled = io.isTTY === true;
  }

  update(what: string, done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (this.shown && now - this.last < 100 && done < total) return;
    this.last = now;
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    this.io.stderr(`\r${what}: ${formatInteger(done)}${total > 0 ? ` / ${formatInteger(total)}` : ''}${pct}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.io.stderr('\r\x1b[K');
    this.shown = false;
  }
}
