/**
 * Access to the real PostgreSQL and Redis servers that integration tests need.
 *
 * Tests read `DATABASE_URL` and `REDIS_URL`. When one is missing the test suite is skipped with a
 * message naming the variable, unless `TOKENWARDEN_REQUIRE_SERVICES=1` (set by `.ci/run`), which turns
 * the skip into a failure so CI always exercises the real servers.
 */
import { describe } from 'vitest';

const REQUIRE = process.env.TOKENWARDEN_REQUIRE_SERVICES === '1';

function serviceUrl(variable: 'DATABASE_URL' | 'REDIS_URL'): string | undefined {
  const url = process.env[variable];
  if (url) return url;
  if (REQUIRE) {
    throw new Error(`${variable} is not set but TOKENWARDEN_REQUIRE_SERVICES=1: this suite must run against a real server`);
  }
  console.warn(`[tokenwarden tests] ${variable} is not set: skipping the suites that need it`);
  return undefined;
}

export const DATABASE_URL = serviceUrl('DATABASE_URL');
export const REDIS_URL = serviceUrl('REDIS_URL');

/** `describe` that runs only when PostgreSQL is configured. */
export const describePostgres = DATABASE_URL ? describe : describe.skip;
/** `describe` that runs only when Redis is configured. */
export const describeRedis = REDIS_URL ? describe : describe.skip;
