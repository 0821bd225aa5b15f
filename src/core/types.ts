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
  /**
   * The wire APIs this backend speaks natively: a request in one of them is passed through with its body
   * unchanged by {@link forward} / {@link forwardStream} (`router.forward()`, the gateway). Absent or empty:
   * the backend is reached only through `complete`/`stream` (the gateway translates where it can).
   */
  readonly apis?: readonly WireApi[];
  /** Sends one request of a native API with its body unchanged; the answer's body as sent and its usage. */
  forward?(request: ForwardRequest): Promise<ForwardResponse>;
  /** Streams one request of a native API with its body unchanged: every SSE event as sent, read for metering. */
  forwardStream?(request: ForwardRequest): AsyncIterable<ForwardEvent>;
}

/**
 * A wire API: the request and answer format of one upstream endpoint. `chat` is OpenAI's
 * `/chat/completions`, `responses` `/responses`, `completions` the legacy `/completions`, `embeddings`
 * `/embeddings`; `messages` is Anthropic's `/v1/messages` and `count_tokens` its `/v1/messages/count_tokens`.
 */
export type WireApi = 'chat' | 'responses' | 'completions' | 'embeddings' | 'messages' | 'count_tokens';

/** Every {@link WireApi}, in a fixed order. */
export const WIRE_APIS: readonly WireApi[] = ['chat', 'responses', 'completions', 'embeddings', 'messages', 'count_tokens'];

/** What a pass-through backend receives: the client's body, to be sent as it is. */
export interface ForwardRequest {
  api: WireApi;
  model: string;
  /** The request body as the client sent it (every field, unknown ones included), plus what metering added. */
  body: Record<string, unknown>;
  /** `body` as the client's JSON text, when nothing was added to it: sent byte for byte instead of re-serialised. */
  rawBody?: string;
  /** Client headers the API passes on (Anthropic's `anthropic-version`, `anthropic-beta`), lower-case names. */
  headers?: Record<string, string>;
  /** The client's query string, without `?` (`beta=true` of Anthropic's beta API), added to the upstream URL. */
  query?: string;
  /** Always set by the router: combines the caller's signal and the timeout. */
  signal?: AbortSignal;
}

/** A pass-through backend's answer: its body as sent, and the usage read from it. */
export interface ForwardResponse {
  body: unknown;
  /** `body` as the upstream's JSON text, when the backend has it: what a caller passes on byte for byte. */
  rawBody?: string;
  /** Usage as reported, numbers as sent (the router judges them); `undefined` when it reported none. */
  usage?: TokenUsage;
  /** The answer's `model`, when it names one. */
  model?: string;
}

/** One server-sent event of a pass-through stream, as the upstream sent it, with what metering reads from it. */
export interface ForwardEvent {
  /** The SSE `event:` field, when the upstream named its events (Anthropic, Responses). */
  event?: string;
  /** The SSE `data:` field as sent (`[DONE]` included). */
  data: string;
  /** Output text this event carries (content, refusal, tool-call arguments, reasoning): counted when a stream is cut. */
  text?: string;
  /** Usage this event reports: the total so far (a backend merges Anthropic's split counts). */
  usage?: TokenUsage;
  /** Chat and legacy completions: the event carries usage and no choices (the `include_usage` chunk). */
  usageOnly?: boolean;
  /** The answer is complete with this event (`[DONE]`, `message_stop`, `response.completed`, ...). */
  done?: boolean;
  /** The upstream reported an error in this event (its message): the event is passed on, and the stream ends. */
  error?: string;
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
