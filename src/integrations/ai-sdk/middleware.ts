import type { LanguageModelMiddleware } from 'ai';
import { z } from 'zod';
import type { CallSubject } from '../../budget/policy-types.js';
import type { Metadata } from '../../core/types.js';
import { optionsPrefix, parseOptions } from '../../core/options.js';
import { unknownKey } from '../../core/option-schemas.js';
import { getUsageTracker } from '../../usage/tracker.js';
import {
  DEFAULT_MAX_OUTPUT_TOKENS,
  defaultOnError,
  idValue,
  integrationOptionsShape,
  type IntegrationOptions,
} from '../integration-options.js';
import { MeteredCall, type AnsweredBy } from '../metered-call.js';
import { meterStream } from './metered-stream.js';
import type { CallOptions, LanguageModel } from './model-types.js';
import { estimateAiSdkPrompt } from './prompt-estimate.js';
import { deliveredText, toMeteredUsage } from './usage-map.js';

/** Options of {@link tokenwardenBudget}: see {@link IntegrationOptions}. */
export type TokenwardenBudgetOptions = IntegrationOptions;

const OPTION_KEYS = Object.keys(integrationOptionsShape);
const Schema = z
  .object(integrationOptionsShape, { error: 'must be an object' })
  .catchall(unknownKey(`unknown tokenwardenBudget option (expected one of ${OPTION_KEYS.join(', ')})`));

/**
 * A Vercel AI SDK language-model middleware (specification `v3`: `ai` 6.x) that keeps every call of the
 * wrapped model inside its budgets. Before `doGenerate`/`doStream` it reserves the prompt estimate plus the
 * output cap on the call's thread (with a `ledger`) and on every budget policy that applies (with
 * `policies`); a refusal (`BudgetExhaustedError`, `PolicyExhaustedError`, `RateLimitedError`) is thrown
 * with no provider call and is not retried by the AI SDK (it is not an `APICallError`). After the call it
 * records a usage event through the tracker and settles the holds to the provider's usage (input, output,
 * cache read/write, reasoning); no usage is charged as the estimate of what was delivered. A stream cut or
 * abandoned mid-way is charged what it delivered; an error before any output releases the hold.
 *
 * Per call, the thread, agent, user and org come from `providerOptions.tokenwarden` (`threadId`,
 * `agentId`, `userId`, `orgId`, `metadata`), else from the gateway's headers (`x-thread-id`,
 * `x-agent-id`, `x-user-id`, `x-org-id`), else from these options. A call that sets no
 * `maxOutputTokens` is sent `maxOutputTokensDefault` (4096) as its cap, so that the hold bounds it.
 *
 * @example
 * ```ts
 * import { wrapLanguageModel, generateText } from 'ai';
 * import { openai } from '@ai-sdk/openai';
 * import { MemoryBudgetLedger } from 'tokenwarden';
 * import { tokenwardenBudget } from 'tokenwarden/ai-sdk';
 *
 * const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 50_000 });
 * const model = wrapLanguageModel({ model: openai('gpt-4o-mini'), middleware: tokenwardenBudget({ ledger, agentId: 'writer' }) });
 * await generateText({ model, prompt: 'Hi', providerOptions: { tokenwarden: { threadId: 'ticket-42' } } });
 * ```
 */
export function tokenwardenBudget(options: TokenwardenBudgetOptions = {}): LanguageModelMiddleware {
  const o = parseOptions(Schema, options, optionsPrefix(options));
  const cap = o.maxOutputTokensDefault ?? DEFAULT_MAX_OUTPUT_TOKENS;
  const onError = o.onError ?? defaultOnError;

  const start = (params: CallOptions, model: LanguageModel): Promise<MeteredCall> => {
    const subject = callSubject(params, model, o);
    const estimate = { promptTokens: estimateAiSdkPrompt(params, model.modelId), completionTokens: params.maxOutputTokens ?? cap };
    const metadata = { ...o.metadata, ...callMetadata(params) };
    return MeteredCall.start({ ledger: o.ledger, policies: o.policies, subject, tracker: o.tracker ?? getUsageTracker(), estimate, metadata });
  };

  return {
    specificationVersion: 'v3',
    transformParams: async ({ params }) => (params.maxOutputTokens === undefined ? { ...params, maxOutputTokens: cap } : params),

    wrapGenerate: async ({ doGenerate, params, model }) => {
      const call = await start(params, model);
      try {
        const result = await doGenerate();
        const estimate = (): ReturnType<MeteredCall['estimateDelivered']> => call.estimateDelivered(deliveredText(result.content));
        const usage = toMeteredUsage(result.usage, estimate) ?? estimate();
        await call.settle(usage, answeredBy(model, result.response?.modelId), onError);
        return result;
      } finally {
        await call.release(); // nothing was charged: the provider failed (or the call was settled: a no-op)
      }
    },

    wrapStream: async ({ doStream, params, model }) => {
      const call = await start(params, model);
      try {
        const result = await doStream();
        return { ...result, stream: meterStream(result.stream, call, answeredBy(model, undefined), onError) };
      } catch (err) {
        await call.release();
        throw err;
      }
    },
  };
}

/** The AI SDK's provider id is `openai.chat`, `anthropic.messages`, ...: the usage event keeps the provider's name. */
function answeredBy(model: LanguageModel, responseModel: string | undefined): AnsweredBy {
  const provider = model.provider.split('.')[0] || model.provider;
  return { provider, model: responseModel || model.modelId };
}

/** The call's own tokenwarden settings (`providerOptions.tokenwarden`), if any. */
function callSettings(params: CallOptions): Record<string, unknown> {
  const own = params.providerOptions?.tokenwarden;
  return typeof own === 'object' && own !== null ? (own as Record<string, unknown>) : {};
}

function callSubject(params: CallOptions, model: LanguageModel, o: IntegrationOptions): CallSubject {
  const own = callSettings(params);
  const headers = params.headers ?? {};
  const pick = (key: string, header: string, fallback: string | undefined): string | undefined =>
    idValue(own[key]) ?? idValue(headers[header]) ?? fallback;
  return {
    model: model.modelId,
    thread: pick('threadId', 'x-thread-id', o.threadId),
    agent: pick('agentId', 'x-agent-id', o.agentId),
    user: pick('userId', 'x-user-id', o.userId),
    org: pick('orgId', 'x-org-id', o.orgId),
    key: o.keyName,
  };
}

/** `providerOptions.tokenwarden.metadata`: the primitive values of it (the usage event keeps no nested objects). */
function callMetadata(params: CallOptions): Metadata {
  const given = callSettings(params).metadata;
  const out: Metadata = {};
  if (typeof given !== 'object' || given === null) return out;
  for (const [key, value] of Object.entries(given)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value as string | number | boolean | null;
  }
  return out;
}
