/**
 * The metering core shared by the integrations: both holds or neither, exactly one ending, never a leaked
 * hold (a refusal on either side, a tracker that cannot persist, a ledger that cannot settle).
 */
import { describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { BudgetExhaustedError, LedgerUnavailableError, RateLimitedError } from '../../src/core/errors.js';
import { MeteredCall, type MeteredCallInput } from '../../src/integrations/metered-call.js';
import { estimateAiSdkPrompt } from '../../src/integrations/ai-sdk/prompt-estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { RecordingGuard } from '../support/recording-guard.js';

function setup(maxTokens = 10_000) {
  const ledger = new MemoryBudgetLedger({ maxTokensPerThread: maxTokens });
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const guard = new RecordingGuard();
  const input: MeteredCallInput = {
    ledger,
    policies: guard,
    tracker,
    subject: { model: 'gpt-4o', thread: 't1', agent: 'a1', user: 'ann', org: 'acme', key: 'ci' },
    estimate: { promptTokens: 100, completionTokens: 400 },
    metadata: { app: 'x' },
  };
  return { ledger, tracker, events, guard, input };
}

describe('MeteredCall', () => {
  it('holds both, then settles once: event, thread and policies charged the same usage', async () => {
    const { ledger, events, guard, input } = setup();
    const call = await MeteredCall.start(input);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 500 });
    const event = await call.settle({ promptTokens: 90, completionTokens: 30, cachedPromptTokens: 64 }, { provider: 'openai' });
    expect(event).toMatchObject({ threadId: 't1', agentId: 'a1', model: 'gpt-4o', promptTokens: 90, completionTokens: 30, cachedPromptTokens: 64 });
    expect(event!.metadata).toEqual({ app: 'x', user_id: 'ann', org_id: 'acme', key_name: 'ci' });
    expect(await call.settle({ promptTokens: 1, completionTokens: 1 }, { provider: 'openai' })).toBeUndefined();
    await call.release();
    expect(events).toHaveLength(1);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 120, reservedTokens: 0, requestCount: 1 });
    expect(guard.settles).toEqual([{ id: 'p1', actual: { nanos: event!.costNanos, tokens: 120 } }]);
    expect(guard.endings()).toEqual(['settled']);
  });

  it('counts what the provider reported beyond the hold as overspend, and bills it', async () => {
    const { ledger, input } = setup();
    const call = await MeteredCall.start(input);
    const event = await call.settle({ promptTokens: 100, completionTokens: 450 }, { provider: 'openai' });
    expect(event!.overspendTokens).toBe(50);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 550, reservedTokens: 0 });
  });

  it('releases the thread when a policy refuses, and the policies when the thread refuses', async () => {
    const { ledger, guard, input } = setup(300);
    await expect(MeteredCall.start(input)).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(guard.endings()).toEqual(['released']);
    await ledger.setBudget('t1', 10_000);
    guard.refusal = new RateLimitedError({ policy: 'key-rate', scope: 'key', entity: 'ci', limit: 'requests', max: 1, used: 1, reserved: 0, requested: 1, resetsAt: 60_000, now: 0 });
    await expect(MeteredCall.start(input)).rejects.toBeInstanceOf(RateLimitedError);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
  });

  it('frees both holds and throws when the tracker cannot persist the event', async () => {
    const { ledger, tracker, guard, input } = setup();
    tracker.subscribe(() => {
      throw new Error('disk full');
    }, { required: true });
    const call = await MeteredCall.start(input);
    await expect(call.settle({ promptTokens: 10, completionTokens: 5 }, { provider: 'openai' })).rejects.toThrow(/was not stored: disk full/);
    expect(await ledger.usage('t1')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
    expect(guard.endings()).toEqual(['released']);
  });

  it('keeps the event and reports a thread ledger that cannot settle', async () => {
    const { ledger, events, input } = setup();
    const errors: unknown[] = [];
    const call = await MeteredCall.start(input);
    ledger.settle = async () => {
      throw new LedgerUnavailableError('redis down');
    };
    await call.settle({ promptTokens: 10, completionTokens: 5 }, { provider: 'openai' }, (e) => errors.push(e));
    expect(events).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(LedgerUnavailableError);
  });

  it('reserves without a thread (metering only) and charges delivered text, never zero', async () => {
    const { events, input } = setup();
    const call = await MeteredCall.start({ ...input, ledger: undefined, subject: { model: 'gpt-4o' } });
    const usage = call.estimateDelivered('Some delivered words');
    expect(usage.promptTokens).toBe(100);
    expect(usage.completionTokens).toBeGreaterThan(0);
    await call.settle(usage, { provider: 'openai' });
    expect(events[0]).toMatchObject({ threadId: null, promptTokens: 100, completionTokens: usage.completionTokens });
  });
});

describe('estimateAiSdkPrompt', () => {
  const user = (content: unknown[]) => ({ prompt: [{ role: 'user' as const, content }] }) as never;

  it('counts images at the image allowance, audio and documents by their inline data', () => {
    const text = estimateAiSdkPrompt(user([{ type: 'text', text: 'Describe' }]), 'gpt-4o');
    const image = estimateAiSdkPrompt(user([{ type: 'text', text: 'Describe' }, { type: 'file', mediaType: 'image/png', data: new URL('https://x/y.png') }]), 'gpt-4o');
    expect(image - text).toBe(3800);
    expect(estimateAiSdkPrompt(user([{ type: 'file', mediaType: 'image/png', data: 'AAAA' }]), 'gpt-4o-mini')).toBeGreaterThan(48_169);
    const pdf = estimateAiSdkPrompt(user([{ type: 'file', mediaType: 'application/pdf', data: new Uint8Array(3000) }]), 'gpt-4o');
    expect(pdf).toBeGreaterThanOrEqual(8000 + 4000);
    const audio = estimateAiSdkPrompt(user([{ type: 'file', mediaType: 'audio/wav', data: 'A'.repeat(1600) }]), 'gpt-4o');
    expect(audio).toBeGreaterThanOrEqual(100 + 100);
  });

  it('counts tool calls, tool results, tool definitions and a response schema', () => {
    const base = { prompt: [{ role: 'user', content: [{ type: 'text', text: 'Weather?' }] }] } as never;
    const withTools = { ...(base as object), tools: [{ type: 'function', name: 'weather', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } }] } as never;
    const withSchema = { ...(base as object), responseFormat: { type: 'json', schema: { type: 'object', properties: { name: { type: 'string' } } } } } as never;
    expect(estimateAiSdkPrompt(withTools, 'gpt-4o')).toBeGreaterThan(estimateAiSdkPrompt(base, 'gpt-4o') + 10);
    expect(estimateAiSdkPrompt(withSchema, 'gpt-4o')).toBeGreaterThan(estimateAiSdkPrompt(base, 'gpt-4o') + 10);
    const loop = {
      prompt: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'weather', input: { city: 'Oslo' } }] },
        { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c1', toolName: 'weather', output: { type: 'json', value: { celsius: 3 } } }] },
      ],
    } as never;
    expect(estimateAiSdkPrompt(loop, 'gpt-4o')).toBeGreaterThan(estimateAiSdkPrompt(base, 'gpt-4o') + 20);
  });
});
