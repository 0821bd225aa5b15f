import { describe, expect, it } from 'vitest';
import { MockBackend } from '../../src/providers/mock.js';
import { LLMRouter } from '../../src/router/router.js';

describe('constructor options: unknown keys first', () => {
  it('a backend limit typo is named before a bad limit', () => {
    const router = new LLMRouter();
    const backend = new MockBackend({ name: 'm', models: '*' });
    expect(() => router.addBackend(backend, { maxConcurent: 4, maxQueue: -1 } as never)).toThrow(/maxConcurent: unknown backend limit/);
  });

  it('a retry or cooldown typo is named before a bad value', () => {
    expect(() => new LLMRouter({ retries: { maxAttempt: 3, baseDelayMs: -1 } as never })).toThrow(/^retries\.maxAttempt: unknown option/);
    expect(() => new LLMRouter({ cooldown: { cooldownMs: -1, threshold: 2 } as never })).toThrow(/^cooldown\.threshold: unknown option/);
  });

  it('an unknown router option is named before a bad value, with no second pass over the names', () => {
    expect(() => new LLMRouter({ timeoutMs: -1, timeout: 5 } as never)).toThrow(/^timeout: unknown LLMRouter option/);
    expect(() => new LLMRouter(null as never)).toThrow('options: must be an object (got null)');
  });
});
