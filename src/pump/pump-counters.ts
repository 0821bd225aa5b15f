/**
 * What the pump's parts hold right now, shared by reference so `stats()` can report it: handler steps
 * running, threads waiting for an agent's slot, `ctx.complete()` calls in flight, timers armed.
 */
export class PumpCounters {
  runningSteps = 0;
  waitingForAgent = 0;
  inFlightCalls = 0;
  timers = 0;
}
