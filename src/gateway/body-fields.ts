import { textProblem } from '../usage/event-fields.js';
import { badRequest } from './http-error.js';

const MAX_MODEL_LENGTH = 256;
const MAX_USER_LENGTH = 256;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A 400 naming the body field at fault: `<param>: <problem> (got <value>)`. */
export function fail(param: string, problem: string, value: unknown): never {
  throw badRequest(param, `${param}: ${problem} (got ${describe(value)})`);
}

/**
 * The body's `model`, checked. It reaches the usage store and the logs: refused here is what a store would
 * refuse later (control characters, lone surrogates, over 256 characters).
 */
export function bodyModel(body: Record<string, unknown>): string {
  const model = body.model;
  if (typeof model !== 'string') fail('model', `must be a non-empty string of at most ${MAX_MODEL_LENGTH} characters`, model);
  const problem = textProblem(model, MAX_MODEL_LENGTH);
  if (problem) fail('model', problem, model);
  return model;
}

/** The body's OpenAI `user` field, checked like `model`; `undefined` when absent, null or empty. */
export function bodyUser(body: Record<string, unknown>): string | undefined {
  const user = body.user;
  if (user === undefined || user === null) return undefined;
  if (typeof user !== 'string') fail('user', `must be a string of at most ${MAX_USER_LENGTH} characters`, user);
  if (user.length === 0) return undefined;
  const problem = textProblem(user, MAX_USER_LENGTH);
  if (problem) fail('user', problem, user);
  return user;
}
