import type { LanguageModelMiddleware } from 'ai';

/**
 * The AI SDK's language-model types this integration reads, derived from what `ai` exports (so the
 * integration needs no direct dependency on `@ai-sdk/provider`). Type-only: nothing here loads `ai`.
 */
type WrapGenerate = NonNullable<LanguageModelMiddleware['wrapGenerate']>;
type WrapStream = NonNullable<LanguageModelMiddleware['wrapStream']>;

/** `LanguageModelV3CallOptions`. */
export type CallOptions = Parameters<WrapGenerate>[0]['params'];
export type GenerateResult = Awaited<ReturnType<WrapGenerate>>;
export type StreamResult = Awaited<ReturnType<WrapStream>>;
export type LanguageModel = Parameters<WrapGenerate>[0]['model'];
export type ModelUsage = GenerateResult['usage'];
export type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;
