import { isPlainObject } from '../../core/objects.js';
import type { ForwardEvent } from '../../core/types.js';

/** One server-sent event as the SSE parser gives it. */
export interface SseInput {
  event?: string;
  data: string;
}

const BLANK = /^\s*$/;

/** The event as given (`event` and `data` copied), nothing read from it yet. */
export function passed(ev: SseInput): ForwardEvent {
  return ev.event === undefined ? { data: ev.data } : { event: ev.event, data: ev.data };
}

/** Whether the event's data is empty or whitespace: such an event carries nothing to read. */
export function isBlank(data: string): boolean {
  return data.length === 0 || BLANK.test(data);
}

/**
 * Parses the data of a stream event. Every wire API sends a JSON object; anything else throws an Error
 * saying "a stream event is not JSON" (the backend wraps it into its own malformed-answer error).
 */
export function parseEventData(data: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (err) {
    throw new Error('a stream event is not JSON', { cause: err });
  }
  if (!isPlainObject(json)) {
    throw new Error(`a stream event is not JSON: expected an object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  }
  return json;
}

/** The event's type: the data's `type` field when it has one, else the SSE `event:` name. */
export function eventType(ev: SseInput, json: Record<string, unknown>): string | undefined {
  return typeof json.type === 'string' ? json.type : ev.event;
}

/**
 * The message of an upstream error value: a string as it is, an object's `message` (or its nested
 * `error.message`), else its JSON. Never empty, so that a reported error always ends the stream.
 */
export function errorMessage(error: unknown): string {
  if (typeof error === 'string' && error) return error;
  if (isPlainObject(error)) {
    if (typeof error.message === 'string' && error.message) return error.message;
    if (isPlainObject(error.error) || typeof error.error === 'string') return errorMessage(error.error);
  }
  const json = JSON.stringify(error);
  return json && json !== '""' ? json : 'the upstream reported an error';
}

/** The `model` field of an answer body, when it is a non-empty string. */
export function modelOf(body: unknown): string | undefined {
  return isPlainObject(body) && typeof body.model === 'string' && body.model ? body.model : undefined;
}

/** The text of a string field, or `''` when it is not a string. */
export function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
