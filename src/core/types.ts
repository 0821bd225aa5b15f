/**
 * Wire-neutral types shared by the router, providers, pump and gateway.
 *
 * Chat messages keep OpenAI's shape (`role`, `content`, `tool_calls`, `tool_call_id`) so they pass
 * through the gateway and to OpenAI-compatible providers unchanged; the Anthropic adapter converts them.
 */

/** One part of a multi-part message content (OpenAI shape). */
export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

/** A tool call made by the assistant (OpenAI shape). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A chat message. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** Token counts of one call. `totalTokens` is always `promptTokens + completionTokens`. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens served from the provider's cache (a subset of `promptTokens`). */
  cachedPromptTokens?: number;
  /** Prompt tokens written to the provider's cache (a subset of `promptTokens`; Anthropic). */
  cacheWriteTokens?: number;
  /** Completion tokens spent on reasoning (a subset of `completionTokens`). */
  reasoningTokens?: number;
}

/** Caller metadata attached to usage events (e.g. `{ org_id, user_id }`). */
export type Metadata = Record<string, string | number | boolean | null>;

/** What a caller asks the router for. */
export interface CompletionRequest {
  model: string;
  messages: ChatMessage[];
  /** Thread whose budget pays for the call. Without it no budget is touched. */
  threadId?: string;
  agentId?: string;
  metadata?: Metadata;
  /** Completion cap sent to the provider; also the completion part of the budget reservation. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string | string[];
  /** Tools in OpenAI's shape; passed through to the provider. */
  tools?: unknown[];
  toolChoice?: unknown;
  /** Aborts the call (and releases its reservation). */
  signal?: AbortSignal;
  /** Per-call timeout in milliseconds (overrides the backend's). */
  timeoutMs?: number;
}

/** What a backend receives: the request without routing and budget fields. */
export interface BackendRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string | string[];
  tools?: unknown[];
  toolChoice?: unknown;
  /** Always set by the router: combines the caller's signal and the timeout. */
  signal?: AbortSignal;
}

/** A backend's answer. */
export interface LLMResponse {
  content: string | null;
  model: string;
  /** Usage as the provider reported it; `undefined` when it reported none. */
  usage?: TokenUsage;
  finishReason: string | null;
  toolCalls?: ToolCall[];
  /** Provider-assigned response id, when there is one. */
  id?: string;
}

/** One piece of a streamed answer. */
export type StreamChunk =
  | { type: 'delta'; content: string; toolCalls?: unknown[] }
  | { type: 'finish'; finishReason: string | null }
  | { type: 'usage'; usage: TokenUsage };

/**
 * A backend the router can send calls to. Provider adapters implement it; so can a test double.
 * Field names follow the seed's backend (`name provider priority load servesModel complete`).
 */
export interface Backend {
  readonly name: string;
  readonly provider: string;
  /** Lower is preferred by the failover strategy. */
  priority: number;
  /**
   * The seed's load field, kept for its API. The router neither reads nor writes it: it counts the calls it
   * has in flight per backend itself (`router.inFlight(backend)`) for least-loaded selection.
   */
  load: number;
  /**
   * Timeout of one call as the backend enforces it itself, ms (the HTTP adapters' `timeoutMs`). The router
   * times attempts by it when no router-side limit is set, and waits no longer than it for a Retry-After.
   */
  readonly timeoutMs?: number;
  /**
   * The model patterns this backend serves, as configured: exact names, prefixes ending in `*`, or `'*'`
   * for all. `servesModel` is what routing uses; this list is for callers that show what is served (the
   * gateway's `GET /v1/models` lists the exact names). Optional: a test double may only answer `servesModel`.
   */
  readonly models?: readonly string[];
  servesModel(model: string): boolean;
  complete(request: BackendRequest): Promise<LLMResponse>;
  /** Streaming variant; backends without it cannot serve `router.stream()`. */
  stream?(request: BackendRequest): AsyncIterable<StreamChunk>;
  /** Embeddings (OpenAI's `POST /embeddings`); backends without it cannot serve `router.embed()`. */
  embed?(request: EmbeddingBackendRequest): Promise<EmbeddingResponse>;
}

/** What an embeddings backend receives: the client's body, forwarded unchanged. */
export interface EmbeddingBackendRequest {
  model: string;
  /** The request body as the client sent it (every field, unknown ones included). */
  body: Record<string, unknown>;
  /** Always set by the router: combines the caller's signal and the timeout. */
  signal?: AbortSignal;
}

/** An embeddings backend's answer: the body to hand back as it is, and the usage it reported. */
export interface EmbeddingResponse {
  body: unknown;
  /** `usage.prompt_tokens` as the provider reported it; `undefined` when it reported none. */
  usage?: { promptTokens: number };
}

/**
 * Whether a dependency (a usage store, a budget ledger) can take new work now. The gateway's `/readyz`
 * reports it and refuses new calls while one is not ready.
 */
export interface Readiness {
  ready: boolean;
  /** Why not, when not ready: safe to show to operators (no credentials, no internal ids). */
  reason?: string;
}
