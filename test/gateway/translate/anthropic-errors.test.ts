import { describe, expect, it } from 'vitest';
import { anthropicErrorBody, anthropicErrorEvent, anthropicErrorType } from '../../../src/gateway/translate/anthropic-errors.js';

describe('anthropic errors', () => {
  it('types errors by status as Anthropic documents them', () => {
    const table: [number, string][] = [
      [400, 'invalid_request_error'], [401, 'authentication_error'], [402, 'billing_error'], [403, 'permission_error'],
      [404, 'not_found_error'], [413, 'request_too_large'], [429, 'rate_limit_error'], [500, 'api_error'], [502, 'api_error'],
      [503, 'overloaded_error'], [504, 'timeout_error'], [529, 'overloaded_error'], [409, 'invalid_request_error'],
      [499, 'invalid_request_error'], [501, 'api_error'],
    ];
    for (const [status, type] of table) expect(anthropicErrorType(status), String(status)).toBe(type);
  });

  it('builds the body and the SSE error event', () => {
    expect(anthropicErrorBody(429, 'budget exhausted')).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'budget exhausted' } });
    expect(anthropicErrorBody(404, 'no such model', 'req_1')).toEqual({
      type: 'error', error: { type: 'not_found_error', message: 'no such model' }, request_id: 'req_1',
    });
    expect(anthropicErrorEvent(529, 'Overloaded')).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    );
  });
});
