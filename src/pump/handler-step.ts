import { CallAbortedError } from '../core/errors.js';

/** One handler invocation: its abort signal is created on first use and aborted when the step ends. */
export class HandlerStep {
  done = false;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.done) this.controller.abort(stepEnded());
    }
    return this.controller.signal;
  }

  finish(reason: Error | undefined): void {
    this.done = true;
    this.controller?.abort(reason ?? stepEnded());
  }
}

function stepEnded(): Error {
  return new CallAbortedError('aborted', 'The handler step that made this call has ended');
}
