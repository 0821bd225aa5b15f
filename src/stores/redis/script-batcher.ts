/**
 * Collects the calls of one batched ledger script made in the same tick and sends them as one call.
 *
 * Callers resumed by one reply tend to make their next call in the same tick, so with N concurrent
 * callers most batches hold about N operations: the script's fixed cost (most of what a small script
 * costs on Redis 7) is paid once per batch instead of once per call. A batch waits for nothing: it is
 * sent on `process.nextTick`, after the promise continuations that are already queued have run.
 *
 * @example
 * ```ts
 * const batcher = new ScriptBatcher((keys, args) => redis.evalsha(sha, keys.length, ...keys, Date.now(), ...args), 128);
 * const reply = await batcher.push(['tw:{t}:b', 'tw:{t}:h'], [100, 'id-1']);
 * ```
 */
export class ScriptBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  /**
   * @param send runs one batch: all operations' keys, then all their arguments; resolves to one reply
   *   per operation, in order.
   * @param maxBatch most operations per call (bounds how long one script blocks Redis).
   */
  constructor(
    private readonly send: (keys: string[], args: (string | number)[]) => Promise<unknown>,
    private readonly maxBatch: number,
  ) {}

  /** Queues one operation; resolves to its reply, or rejects with the batch's error. */
  push(keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ keys, args, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const op of batch) {
        for (const k of op.keys) keys.push(k);
        for (const a of op.args) args.push(a);
      }
      this.send(keys, args).then(
        (replies) => {
          if (!Array.isArray(replies) || replies.length !== batch.length) {
            const err = new Error(`expected ${batch.length} replies from the batched script, got ${describe(replies)}`);
            for (const op of batch) op.reject(err);
            return;
          }
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(replies[i]);
        },
        (err: unknown) => {
          for (const op of batch) op.reject(err);
        },
      );
    }
  }
}

interface Pending {
  keys: readonly string[];
  args: readonly (string | number)[];
  resolve: (reply: unknown) => void;
  reject: (err: unknown) => void;
}

function describe(value: unknown): string {
  return Array.isArray(value) ? `${value.length}` : typeof value;
}
