import type { Readiness } from '../core/types.js';
import { HttpError } from './http-error.js';
import { errorMessage } from '../core/error-fields.js';

/** What can report readiness (a usage store, a budget ledger). */
interface Checkable {
  readiness?(): Promise<Readiness>;
}

/** One component's state as shown by `/readyz`. */
export interface CheckState {
  status: 'ok' | 'failing' | 'not_configured';
  reason?: string;
}

/** The cached state of every component. */
export interface ReadinessState {
  ready: boolean;
  checks: { store: CheckState; ledger: CheckState };
  /** When the state was computed (epoch ms), 0 before the first check. */
  checkedAt: number;
}

/** Options of {@link ReadinessMonitor}. */
export interface ReadinessMonitorOptions {
  store: Checkable | undefined;
  ledger: Checkable;
  /** How often the state is refreshed in the background, ms. */
  intervalMs: number;
  /** A check that has not answered after this long counts as failing, ms. */
  timeoutMs: number;
}

const NAMES = { store: 'usage store', ledger: 'budget ledger' } as const;

/**
 * Keeps the readiness of the usage store and the budget ledger cached, so that serving a call never
 * waits on a readiness probe: the state is refreshed every `intervalMs` in the background and at once
 * when something suggests it changed ({@link refresh}, e.g. after a failed store write).
 *
 * @example
 * ```ts
 * const monitor = new ReadinessMonitor({ store, ledger, intervalMs: 2000, timeoutMs: 2000 });
 * monitor.start();
 * if (!monitor.state.ready) throw monitor.notReadyError();
 * ```
 */
export class ReadinessMonitor {
  private current: ReadinessState = { ready: true, checks: { store: { status: 'ok' }, ledger: { status: 'ok' } }, checkedAt: 0 };
  private running: Promise<ReadinessState> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReadinessMonitorOptions) {
    if (!options.store) this.current.checks.store = { status: 'not_configured' };
  }

  /** The last computed state (optimistic "ready" until the first check ends). */
  get state(): ReadinessState {
    return this.current;
  }

  /** Runs a first check now and then every `intervalMs` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks again now (joins a check already running); resolves with the new state. */
  refresh(): Promise<ReadinessState> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The current state, waiting for the first check if none has ended yet (for `/readyz`). */
  async settled(): Promise<ReadinessState> {
    return this.current.checkedAt === 0 ? this.refresh() : this.current;
  }

  /** The 503 refusing a call while not ready, naming what fails. */
  notReadyError(): HttpError {
    // Names what fails, not why: reasons carry file paths and addresses, shown on /readyz to operators only.
    const failing = (['store', 'ledger'] as const).filter((k) => this.current.checks[k].status === 'failing').map((k) => `${NAMES[k]} failing`);
    return new HttpError(
      503,
      'server_error',
      'not_ready',
      `The gateway is not ready to take calls, so none was made (${failing.join('; ')}); see /readyz`,
      null,
      { 'retry-after': String(Math.max(1, Math.ceil(this.options.intervalMs / 1000))) },
    );
  }

  private async check(): Promise<ReadinessState> {
    const [store, ledger] = await Promise.all([this.probe(this.options.store), this.probe(this.options.ledger)]);
    this.current = { ready: store.status !== 'failing' && ledger.status !== 'failing', checks: { store, ledger }, checkedAt: Date.now() };
    return this.current;
  }

  private async probe(target: Checkable | undefined): Promise<CheckState> {
    if (!target) return { status: 'not_configured' };
    if (typeof target.readiness !== 'function') return { status: 'ok' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Readiness>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reason: `readiness check did not answer within ${this.options.timeoutMs} ms` }), this.options.timeoutMs);
    });
    try {
      const r = await Promise.race([target.readiness(), timeout]);
      return r.ready ? { status: 'ok' } : { status: 'failing', reason: clip(r.reason ?? 'not ready') };
    } catch (err) {
      return { status: 'failing', reason: clip(`readiness check failed: ${errorMessage(err)}`) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** The `/readyz` body. */
export function readyzJson(state: ReadinessState, closing: boolean, withReasons: boolean): { status: string; checks: ReadinessState['checks'] } {
  const checks = withReasons
    ? state.checks
    : { store: { status: state.checks.store.status }, ledger: { status: state.checks.ledger.status } };
  return { status: closing ? 'shutting_down' : state.ready ? 'ok' : 'not_ready', checks };
}
