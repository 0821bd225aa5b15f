import type { PolicyAlert } from '../budget/policy-types.js';
import { TokenwardenError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';
import { alertEvent } from './alert-event.js';
import { AlertOutbox, type OutboxMark, type OutboxRecord } from './alert-outbox.js';
import { Fifo } from '../core/fifo.js';
import { deliverWebhook, type DeliveryOutcome } from './webhook-delivery.js';
import { resolveWebhookOptions, type ResolvedEndpoint, type ResolvedWebhookOptions, type WebhookAlertsOptions } from './webhook-options.js';
import { randomId, webhookHeaders } from './webhook-signing.js';

/** Counters of {@link WebhookAlerts}: `pending` now; the others since the instance was made. */
export interface WebhookAlertStats {
  /** Deliveries not yet delivered nor given up (waiting, retrying or in flight). */
  pending: number;
  delivered: number;
  /** Deliveries given up after the last retry (kept in the outbox, marked failed). */
  failed: number;
  /** Deliveries dropped, oldest first, because `maxQueued` were pending. */
  dropped: number;
}

/** One endpoint's deliveries: its own queue and its own `concurrency`, so a dead endpoint never holds up a live one. */
interface Lane {
  endpoint: ResolvedEndpoint;
  /** Jobs due now (a dropped job stays until reached, then is skipped). */
  ready: Fifo<Job>;
  inFlight: number;
}

/** A delivery the sender is working on. */
interface Job {
  record: OutboxRecord;
  lane: Lane;
  timer: ReturnType<typeof setTimeout> | undefined;
  inFlight: boolean;
}

/** The longest a `Retry-After` may push a retry out. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * Budget alerts as signed webhooks (Standard Webhooks 1.0): each alert becomes one JSON event
 * (`budget.threshold` or `budget.exhausted`, see `alertEvent`) with a `msg_…` id, queued durably in an
 * outbox file once per endpoint that wants it, and POSTed in the background with the `webhook-id`,
 * `webhook-timestamp` and `webhook-signature` headers. A 2xx is delivered; anything else or no answer
 * within `timeoutMs` is retried on the `retry` schedule with the same `webhook-id` (receivers drop
 * repeats: delivery is at least once), then given up, logged and kept marked failed in the outbox.
 * What is pending at `close()` or a crash is delivered by the next `start()` on the same outbox.
 * Memory and the file are bounded: at most `maxQueued` pending deliveries (the oldest dropped and
 * counted beyond it), and the file is compacted as it grows.
 *
 * @example
 * ```ts
 * const alerts = new WebhookAlerts({
 *   endpoints: [{ url: 'https://ops.example.com/hooks/budget', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
 *   outboxPath: '.tokenwarden/alerts-outbox.jsonl',
 * });
 * await alerts.start();
 * const unsubscribe = ledger.onAlert((alert) => alerts.send(alert));
 * // …
 * unsubscribe();
 * await alerts.close();
 * ```
 */
export class WebhookAlerts {
  private readonly o: ResolvedWebhookOptions;
  private readonly outbox: AlertOutbox;
  /** Pending deliveries, oldest first. */
  private readonly jobs = new Map<string, Job>();
  private readonly lanes: Map<string, Lane>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private state: 'new' | 'started' | 'closed' = 'new';
  private readonly counts = { delivered: 0, failed: 0, dropped: 0 };

  constructor(options: WebhookAlertsOptions) {
    this.o = resolveWebhookOptions(options);
    this.outbox = new AlertOutbox(this.o.outboxPath, {
      compactBytes: this.o.compactBytes,
      maxFailed: this.o.maxFailed,
      warn: (w) => this.o.warn(w),
    });
    this.lanes = new Map(this.o.endpoints.map((endpoint) => [endpoint.url, { endpoint, ready: new Fifo<Job>(), inFlight: 0 }]));
  }

  /**
   * Opens the outbox and resumes what it holds pending (from a previous run), first attempt now.
   * A pending delivery to a URL no longer among the endpoints is given up with a warning (its secret is
   * not kept on disk). Resolves to how many deliveries were resumed.
   */
  async start(): Promise<{ resumed: number }> {
    if (this.state !== 'new') throw new TokenwardenError('INVALID_STATE', `WebhookAlerts.start(): already ${this.state}`);
    const pending = this.outbox.open();
    this.state = 'started';
    let resumed = 0;
    for (const record of pending) {
      const lane = this.lanes.get(record.url);
      if (lane === undefined) {
        this.giveUp(record, `endpoint ${record.url} is no longer configured`, 'ALERT_ENDPOINT_GONE');
        continue;
      }
      this.enqueue({ record, lane, timer: undefined, inFlight: false });
      resumed++;
    }
    this.pump();
    return { resumed };
  }

  /**
   * Queues an alert for every endpoint whose `events` include its type and returns the event's id
   * (`msg_…`, the `webhook-id`), or `undefined` when no endpoint wants it. Synchronous: once it returns,
   * the deliveries are in the outbox file (if the file cannot be written, a warning is given and they
   * are still attempted from memory). Throws `INVALID_STATE` before `start()` (a wiring mistake); after
   * `close()` (an alert of a call still finishing while the server shuts down) it warns
   * `ALERT_AFTER_CLOSE` and returns `undefined`, so a ledger's listener never throws.
   */
  send(alert: PolicyAlert): string | undefined {
    if (this.state === 'new') throw new TokenwardenError('INVALID_STATE', 'WebhookAlerts.send(): call start() first');
    if (this.state === 'closed') {
      const s = alert.standing;
      this.o.warn({ code: 'ALERT_AFTER_CLOSE', message: `alert webhooks closed: not sending the ${alert.type} alert of ${s.policy}/${s.entity}` });
      return undefined;
    }
    const lanes = [...this.lanes.values()].filter((l) => l.endpoint.events.has(alert.type));
    if (lanes.length === 0) return undefined;
    const event = alertEvent(alert);
    const body = JSON.stringify(event);
    const msg = randomId('msg_');
    for (const lane of lanes) {
      const record: OutboxRecord = { id: randomId('dlv_'), msg, url: lane.endpoint.url, type: event.type, body, at: this.o.now(), attempts: 0 };
      try {
        this.outbox.add(record);
      } catch (err) {
        this.o.warn({ code: 'ALERT_OUTBOX_WRITE_FAILED', message: `${errorMessage(err)}; delivering ${msg} to ${record.url} from memory only` });
      }
      this.enqueue({ record, lane, timer: undefined, inFlight: false });
    }
    this.pump();
    return msg;
  }

  /** Pending, delivered, failed and dropped deliveries. */
  stats(): WebhookAlertStats {
    return { pending: this.jobs.size, ...this.counts };
  }

  /**
   * Stops retry timers, waits up to `closeTimeoutMs` for deliveries in flight (then aborts them) and
   * closes the outbox. What was not delivered stays pending in the outbox for the next `start()`.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasStarted = this.state === 'started';
    this.state = 'closed';
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    for (const lane of this.lanes.values()) lane.ready.drain();
    if (this.inFlight.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((done) => (timer = setTimeout(done, this.o.closeTimeoutMs)));
      await Promise.race([Promise.allSettled([...this.inFlight]), bound]);
      clearTimeout(timer);
      this.closing.abort();
      await Promise.allSettled([...this.inFlight]);
    }
    this.jobs.clear();
    if (wasStarted) this.outbox.close();
  }

  /** Adds a job ready to go now, dropping the oldest waiting ones beyond `maxQueued`. */
  private enqueue(job: Job): void {
    this.jobs.set(job.record.id, job);
    job.lane.ready.push(job);
    if (this.jobs.size <= this.o.maxQueued) return;
    for (const old of this.jobs.values()) {
      if (this.jobs.size <= this.o.maxQueued) break;
      if (old.inFlight) continue;
      this.drop(old);
    }
    // Dropped jobs leave stale entries in `ready` (skipped when reached); sweep them so it stays bounded too.
    if (job.lane.ready.length > 2 * this.o.maxQueued) job.lane.ready.retain((j) => this.jobs.get(j.record.id) === j);
  }

  private drop(job: Job): void {
    clearTimeout(job.timer);
    this.jobs.delete(job.record.id);
    this.counts.dropped++;
    this.persist(job.record.id, { dropped: true });
    // One line for the first drop and then every 1000th: a flood of alerts must not become a flood of logs.
    if (this.counts.dropped % 1000 === 1) {
      this.o.warn({
        code: 'ALERT_DROPPED',
        message: `alert webhooks: ${this.o.maxQueued} deliveries pending; dropped the oldest (${job.record.msg} to ${job.record.url}); ${this.counts.dropped} dropped so far`,
      });
    }
  }

  /** Starts ready jobs of each lane while fewer than `concurrency` of its own are in flight. */
  private pump(only?: Lane): void {
    for (const lane of only === undefined ? this.lanes.values() : [only]) {
      while (this.state === 'started' && lane.inFlight < this.o.concurrency && lane.ready.length > 0) {
        const job = lane.ready.shift()!;
        if (this.jobs.get(job.record.id) !== job || job.inFlight) continue;
        job.inFlight = true;
        lane.inFlight++;
        const attempt = this.attempt(job).finally(() => {
          this.inFlight.delete(attempt);
          job.inFlight = false;
          lane.inFlight--;
          this.pump(lane);
        });
        this.inFlight.add(attempt);
      }
    }
  }

  private async attempt(job: Job): Promise<void> {
    const { record } = job;
    const { endpoint } = job.lane;
    const timestamp = Math.floor(this.o.now() / 1000);
    const outcome = await deliverWebhook(this.o.fetch, {
      url: endpoint.url,
      headers: webhookHeaders(endpoint.key, record.msg, timestamp, record.body),
      body: record.body,
      timeoutMs: this.o.timeoutMs,
      signal: this.closing.signal,
    });
    // Dropped meanwhile, or cut short by close(): then it stays pending as it was.
    if (this.jobs.get(record.id) !== job || this.closing.signal.aborted) return;
    if (outcome.ok) {
      this.jobs.delete(record.id);
      this.counts.delivered++;
      this.persist(record.id, { delivered: true });
      return;
    }
    record.attempts++;
    if (this.state !== 'started') {
      this.persist(record.id, { attempts: record.attempts });
    } else if (record.attempts > this.o.retry.length || outcome.status === 410) {
      this.jobs.delete(record.id);
      this.giveUp(record, failure(outcome, record.attempts), 'ALERT_DELIVERY_FAILED');
    } else {
      this.persist(record.id, { attempts: record.attempts });
      this.retryLater(job, outcome);
    }
  }

  private retryLater(job: Job, outcome: DeliveryOutcome): void {
    const base = this.o.retry[job.record.attempts - 1]!;
    let delay = Math.round(base * (1 + this.o.jitter * (2 * Math.random() - 1)));
    if (!outcome.ok && outcome.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS));
    job.timer = setTimeout(() => {
      job.timer = undefined;
      job.lane.ready.push(job);
      this.pump(job.lane);
    }, delay);
    // Retries must not keep a process alive that has nothing else to do; the outbox keeps them.
    job.timer.unref();
  }

  private giveUp(record: OutboxRecord, error: string, code: 'ALERT_DELIVERY_FAILED' | 'ALERT_ENDPOINT_GONE'): void {
    this.counts.failed++;
    this.persist(record.id, { failed: true, attempts: record.attempts, error });
    this.o.warn({ code, message: `alert webhook ${record.msg} (${record.type}) to ${record.url} given up: ${error}` });
  }

  /** Appends a mark; a write failure is a warning (the delivery is then only as durable as the file already was). */
  private persist(id: string, mark: OutboxMark): void {
    if (this.state === 'new') return;
    try {
      this.outbox.mark(id, mark);
    } catch (err) {
      this.o.warn({ code: 'ALERT_OUTBOX_WRITE_FAILED', message: errorMessage(err) });
    }
  }
}

function failure(outcome: DeliveryOutcome, attempts: number): string {
  const error = outcome.ok ? `HTTP ${outcome.status}` : outcome.error;
  return outcome.ok || outcome.status !== 410 ? `${error} after ${attempts} attempts` : `${error}: the receiver asked for no more deliveries`;
}
