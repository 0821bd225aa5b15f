/**
 * The longest token of OpenAI's cl100k_base and o200k_base vocabularies, in UTF-8 bytes (a run of 128
 * spaces): any text of B bytes is at least B / 128 tokens.
 */
const MAX_TOKEN_BYTES = 128;

/**
 * What a stream has delivered, and a count of tokens it certainly holds, to cut a stream that is past its
 * output cap without ever cutting an honest one.
 *
 * The token estimator over-counts on purpose (it sizes reservations), so it cannot say a stream is past
 * its cap. This meter counts from below instead: a BPE tokenizer whose pre-tokenizer splits on whitespace
 * (GPT's cl100k and o200k, Llama 3, ...) never makes one token out of two runs of non-whitespace, and no
 * token is longer than {@link MAX_TOKEN_BYTES}. So the delivered text holds at least
 * `max(runs of non-whitespace, bytes / 128)` tokens. The stream is cut only when that count exceeds twice
 * the cap plus 16: a margin for tokenizers that do not split exactly so (other vendors' vocabularies may
 * hold a few multi-word tokens). The margin costs nothing: a cut stream is charged its reservation.
 *
 * @example
 * ```ts
 * const meter = new OutputMeter(20);
 * meter.add('one two three');
 * meter.minimumTokens; // 3
 * meter.pastCap;       // false
 * ```
 */
export class OutputMeter {
  /** Everything delivered so far (content and tool-call text). */
  text = '';
  /** Tokens beyond which the stream is certainly past its cap. */
  readonly cutAbove: number;
  private runs = 0;
  private bytes = 0;
  private inRun = false;

  /** `cap`: the most completion tokens the request may produce (all choices together). */
  constructor(readonly cap: number) {
    this.cutAbove = 2 * cap + 16;
  }

  /** Adds delivered text. */
  add(piece: string): void {
    if (piece.length === 0) return;
    this.text += piece;
    this.bytes += Buffer.byteLength(piece);
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      // Only ASCII whitespace separates runs: fewer separators can only lower the count.
      const space = c === 32 || (c >= 9 && c <= 13);
      if (!space && !this.inRun) this.runs++;
      this.inRun = !space;
    }
  }

  /** Tokens the delivered text holds at the least. */
  get minimumTokens(): number {
    return Math.max(this.runs, Math.ceil(this.bytes / MAX_TOKEN_BYTES));
  }

  /** Whether the delivered text is certainly past the cap. */
  get pastCap(): boolean {
    return this.minimumTokens > this.cutAbove;
  }
}
