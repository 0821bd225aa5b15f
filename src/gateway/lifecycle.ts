/**
 * The gateway's request bookkeeping for a graceful shutdown: requests in flight (until their response
 * closes), handlers still running (even after their connection closed), and whether it is closing.
 */
export class GatewayLifecycle {
  /** Set once `close()` starts: `/healthz` answers 503 and responses close their connection. */
  closing = false;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /**
   * Handlers still running, even after their connection closed: a non-streaming call whose client left is
   * read to its end and billed, so shutdown waits for them before it detaches the store.
   */
  private readonly running = new Set<Promise<void>>();

  /** Requests whose response has not closed yet. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Handlers still running. */
  get runningCount(): number {
    return this.running.size;
  }

  /** A request arrived. */
  begin(): void {
    this.inFlight++;
  }

  /** A request's response closed. */
  end(): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Keeps `work` (a handler) until it settles. */
  track(work: Promise<void>): void {
    this.running.add(work);
    void work.then(() => this.running.delete(work));
  }

  /** Whether every request's response closed within `ms`. */
  waitIdle(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.inFlight === 0) return resolve(true);
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== onIdle);
        resolve(false);
      }, ms);
      const onIdle = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(onIdle);
    });
  }

  /** Whether every running handler settled within `ms`. */
  handlersSettled(ms: number): Promise<boolean> {
    return withinMs(Promise.allSettled([...this.running]), ms);
  }
}

/** Whether `work` settles within `ms` (it is not cancelled either way). */
export function withinMs(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    work.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}
