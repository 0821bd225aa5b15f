import type { WireApi } from '../core/types.js';
import { genAiTelemetryEnabled, startGenAiSpan, type GenAiCallCharge, type GenAiCallHandle, type GenAiCallStart } from '../telemetry/genai-call.js';
import { GEN_AI_OPERATION } from '../telemetry/semconv.js';
import type { RouterCall } from './call.js';
import type { RouterCharge } from './charge.js';

/** `gen_ai.operation.name` of a forwarded wire API: Chat Completions, Responses and Messages generate chat. */
function operationOf(api: WireApi): string {
  if (api === 'completions') return GEN_AI_OPERATION.TEXT_COMPLETION;
  if (api === 'embeddings') return GEN_AI_OPERATION.EMBEDDINGS;
  if (api === 'chat' || api === 'responses' || api === 'messages') return GEN_AI_OPERATION.CHAT;
  return api;
}

/**
 * The GenAI span and metrics of one router call (see `startGenAiSpan`), or `undefined` when no OpenTelemetry
 * SDK is installed: then the call builds nothing and its bill adds no tick.
 */
export function startCallTelemetry(call: RouterCall, operation: 'chat' | 'embeddings' | { api: WireApi }): GenAiCallHandle | undefined {
  if (!genAiTelemetryEnabled()) return undefined;
  const req = call.req;
  const start: GenAiCallStart = {
    operation: typeof operation === 'string' ? operation : operationOf(operation.api),
    requestModel: req.model,
    stream: call.streaming,
  };
  if (typeof operation !== 'string') start.api = operation.api;
  // The provider is known for sure only once a backend answers; until then, the first one the call would try.
  const first = call.order[0];
  if (first) start.provider = first.provider;
  if (req.threadId !== undefined) start.threadId = req.threadId;
  if (req.agentId !== undefined) start.agentId = req.agentId;
  if (req.maxTokens !== undefined) start.maxTokens = req.maxTokens;
  return startGenAiSpan(start);
}

/** What a router charge tells telemetry. */
export function chargeFacts(c: RouterCharge): GenAiCallCharge {
  const u = c.usage;
  const usage: GenAiCallCharge['usage'] = { inputTokens: u.promptTokens, outputTokens: u.completionTokens };
  if (u.cachedPromptTokens !== undefined) usage.cacheReadInputTokens = u.cachedPromptTokens;
  if (u.cacheWriteTokens !== undefined) usage.cacheCreationInputTokens = u.cacheWriteTokens;
  if (u.reasoningTokens !== undefined) usage.reasoningOutputTokens = u.reasoningTokens;
  const facts: GenAiCallCharge = { usage, provider: c.provider, backend: c.backend, responseModel: c.event.model, usageEstimated: c.usageEstimated };
  if (c.event.estimatedCost !== undefined) facts.costUsd = c.event.estimatedCost;
  const remaining = c.budget?.usage?.remaining;
  if (remaining !== undefined) facts.remainingTokens = remaining;
  if (c.policies && c.policies.length > 0) facts.policies = [...new Set(c.policies.map((p) => p.policy))];
  return facts;
}
