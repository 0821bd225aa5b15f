import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { formatPath } from '../core/format-path.js';
import { parseOptions } from '../core/options.js';
import type { Backend } from '../core/types.js';
import { functionOption, integerAtLeast, unknownKey } from '../core/option-schemas.js';
import { positiveMs } from './option-schemas.js';

/** Limits of one backend, set with `LLMRouter.addBackend` (a backend pushed directly has none). */
export interface BackendLimits {
  /** Calls running at once on this backend; more wait in a queue. Default: unlimited. */
  maxConcurrent?: number;
  /** Calls that may wait for a concurrency slot; one more fails over. Default 1 000. */
  maxQueue?: number;
  /** Prompt + completion tokens sent per sliding minute. Default: unlimited. */
  tokensPerMinute?: number;
  /** Timeout of one attempt on this backend, ms (an idle timeout between chunks when streaming). */
  timeoutMs?: number;
}

/** A backend with its limits, as accepted by the `backends` option. */
export interface BackendEntry extends BackendLimits {
  backend: Backend;
}

const LIMIT_KEYS = ['maxConcurrent', 'maxQueue', 'tokensPerMinute', 'timeoutMs'];

const BackendLimitsSchema = z
  .object({
    maxConcurrent: integerAtLeast(1).optional(),
    maxQueue: integerAtLeast(0).optional(),
    tokensPerMinute: integerAtLeast(1).optional(),
    timeoutMs: positiveMs().optional(),
  })
  .catchall(unknownKey(`unknown backend limit (expected one of ${LIMIT_KEYS.join(', ')})`));

const nonEmpty = 'must be a non-empty string';
const BackendSchema = z.object(
  {
    name: z.string({ error: nonEmpty }).min(1, { error: nonEmpty }),
    servesModel: functionOption(),
    complete: functionOption(),
  },
  { error: 'must be a Backend object' },
);

/** Checks a backend's limits at `path` (`backend`, `backends[2]`) and returns them. */
export function parseBackendLimits(limits: unknown, path: readonly PropertyKey[]): BackendLimits {
  if (limits === null || typeof limits !== 'object') throw new ValidationError(`${formatPath(path)} limits`, limits, 'must be an object');
  parseOptions(BackendLimitsSchema, limits, path);
  return limits as BackendLimits;
}

/** Checks that `backend` has what the router calls (`name`, `servesModel`, `complete`). */
export function assertBackend(backend: unknown, path: readonly PropertyKey[]): asserts backend is Backend {
  parseOptions(BackendSchema, backend, path);
}

/** A `backends` option entry as backend and limits. */
export function splitBackendEntry(entry: Backend | BackendEntry): { backend: Backend; limits: BackendLimits } {
  if (entry && typeof entry === 'object' && 'backend' in entry) {
    const { backend, ...limits } = entry;
    return { backend, limits };
  }
  return { backend: entry as Backend, limits: {} };
}
