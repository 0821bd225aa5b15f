import type { ForwardEvent, TokenUsage } from '../../core/types.js';
import type { SseInput } from './common.js';

/** Reads one stream's events in order; stateful (Anthropic splits its usage over several events). */
export interface WireStreamReader {
  /** The event with `event`/`data` copied as given plus what it carries: text, usage, usageOnly, done, error. */
  read(ev: SseInput): ForwardEvent;
}

/** Reads what metering needs from the answers of one wire API, leaving them unchanged. */
export interface WireReader {
  /** Usage of a JSON (non-stream) answer; `undefined` when it reports none or no numeric counts. */
  usage(body: unknown): TokenUsage | undefined;
  /** The answer's `model` field. */
  model(body: unknown): string | undefined;
  /** A fresh reader for one stream (throws for an API without streams). */
  stream(): WireStreamReader;
}
