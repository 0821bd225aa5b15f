import { HttpError } from '../../../src/gateway/http-error.js';

/** The HttpError `fn` throws (fails the test when it throws nothing or something else). */
export function rejection(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('expected an HttpError, nothing was thrown');
}
