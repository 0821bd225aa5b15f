/**
 * The OpenTelemetry names tokenwarden emits: the GenAI semantic conventions (status Development; the names
 * of the open-telemetry semantic-conventions-genai registry, schema gen-ai 1.42) and tokenwarden's own, all
 * under `tokenwarden.`. One place, so that a renamed convention is one edit.
 */

/** GenAI attributes of the inference (`chat`, `text_completion`) and `embeddings` client spans and metrics. */
export const GEN_AI = {
  OPERATION_NAME: 'gen_ai.operation.name',
  PROVIDER_NAME: 'gen_ai.provider.name',
  REQUEST_MODEL: 'gen_ai.request.model',
  REQUEST_MAX_TOKENS: 'gen_ai.request.max_tokens',
  REQUEST_STREAM: 'gen_ai.request.stream',
  RESPONSE_MODEL: 'gen_ai.response.model',
  RESPONSE_ID: 'gen_ai.response.id',
  RESPONSE_FINISH_REASONS: 'gen_ai.response.finish_reasons',
  USAGE_INPUT_TOKENS: 'gen_ai.usage.input_tokens',
  USAGE_OUTPUT_TOKENS: 'gen_ai.usage.output_tokens',
  /** A subset of input tokens (the spec: SHOULD be included in `gen_ai.usage.input_tokens`). */
  USAGE_CACHE_READ_INPUT_TOKENS: 'gen_ai.usage.cache_read.input_tokens',
  USAGE_CACHE_CREATION_INPUT_TOKENS: 'gen_ai.usage.cache_creation.input_tokens',
  /** A subset of output tokens. */
  USAGE_REASONING_OUTPUT_TOKENS: 'gen_ai.usage.reasoning.output_tokens',
  /** The thread: "the unique identifier for a conversation (session, thread)". */
  CONVERSATION_ID: 'gen_ai.conversation.id',
  AGENT_NAME: 'gen_ai.agent.name',
  TOKEN_TYPE: 'gen_ai.token.type',
} as const;

/** Stable general attributes the GenAI spans use. */
export const ERROR_TYPE = 'error.type';
export const HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

/** Well-known `gen_ai.operation.name` values tokenwarden's calls map to. */
export const GEN_AI_OPERATION = {
  CHAT: 'chat',
  TEXT_COMPLETION: 'text_completion',
  EMBEDDINGS: 'embeddings',
  INVOKE_AGENT: 'invoke_agent',
} as const;

/** The GenAI client metrics. */
export const GEN_AI_METRIC = {
  TOKEN_USAGE: 'gen_ai.client.token.usage',
  OPERATION_DURATION: 'gen_ai.client.operation.duration',
} as const;

/** The spec's ExplicitBucketBoundaries advice for `gen_ai.client.token.usage` ({token}). */
export const TOKEN_USAGE_BUCKETS: readonly number[] = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** The spec's ExplicitBucketBoundaries advice for `gen_ai.client.operation.duration` (s). */
export const OPERATION_DURATION_BUCKETS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/** tokenwarden's own attributes. */
export const TW = {
  /** The charged cost in USD (absent when the model has no known price). */
  COST_USD: 'tokenwarden.cost_usd',
  /** Tokens left in the call's thread budget after its charge (or at its refusal). */
  BUDGET_REMAINING_TOKENS: 'tokenwarden.budget.remaining_tokens',
  /** True when the provider reported no usage and tokenwarden counted the tokens itself. */
  USAGE_ESTIMATED: 'tokenwarden.usage.estimated',
  /** The backend (by its configured name) that answered. */
  BACKEND: 'tokenwarden.backend',
  /** The wire API of a forwarded call (`chat`, `responses`, `messages`, ...). */
  API: 'tokenwarden.api',
  AGENT_ID: 'tokenwarden.agent.id',
  /** The budget policies that applied to the call (their names). */
  POLICY_NAMES: 'tokenwarden.policy.names',
  /** The policy that refused the call, its scope, and the limit it hit (`usd`, `tokens`, `requests`). */
  POLICY_NAME: 'tokenwarden.policy.name',
  POLICY_SCOPE: 'tokenwarden.policy.scope',
  POLICY_LIMIT: 'tokenwarden.policy.limit',
  /** Pump: who sent the message the agent handles, whether it is a request or a response, the thread's step. */
  PUMP_FROM: 'tokenwarden.pump.from',
  PUMP_KIND: 'tokenwarden.pump.kind',
  PUMP_STEP: 'tokenwarden.pump.step',
} as const;

/** tokenwarden's own metrics. */
export const TW_METRIC = {
  /** Counter, USD: what calls were charged (priced calls only). */
  COST: 'tokenwarden.cost',
  /** Counter: calls refused by a budget, a policy or a rate limit before any provider was called. */
  BUDGET_REFUSALS: 'tokenwarden.budget.refusals',
} as const;

/**
 * `gen_ai.provider.name` for a backend's provider word: the spec's well-known value where one applies
 * (it MUST then be used), else the word itself.
 */
export function genAiProviderName(provider: string): string {
  switch (provider) {
    case 'xai':
      return 'x_ai';
    case 'mistral':
      return 'mistral_ai';
    case 'gemini':
      return 'gcp.gemini';
    case 'bedrock':
      return 'aws.bedrock';
    case 'azure':
      return 'azure.ai.openai';
    default:
      return provider;
  }
}
