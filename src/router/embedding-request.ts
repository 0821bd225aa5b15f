import { ValidationError } from '../core/errors.js';
import { isPlainObject } from '../core/objects.js';
import type { CompletionRequest } from '../core/types.js';
import type { RouterCallHooks, RouterCompletionRequest } from './call-hooks.js';
import type { RouterCharge } from './charge.js';
import { validateRequest } from './validate-request.js';

/** What a caller asks {@link LLMRouter.embed} for. */
export interface EmbeddingRequest
  extends Omit<CompletionRequest, 'messages' | 'maxTokens' | 'temperature' | 'topP' | 'stop' | 'tools' | 'toolChoice'>,
    RouterCallHooks {
  /** The body sent to the backend unchanged (OpenAI's embeddings request: `model`, `input`, ...). */
  body: Record<string, unknown>;
  /** The input's token count or estimate: what the thread's reservation holds. */
  inputTokens: number;
}

/** The answer of {@link LLMRouter.embed}: the backend's body as it sent it, and what was charged. */
export interface RouterEmbedding extends RouterCharge {
  body: unknown;
}

/**
 * Checks an embeddings request (hand-written, like validateRequest: a per-call path) and returns it as the
 * completion request the call's budget and event are made from (no messages), with its body and estimate.
 */
export function validateEmbeddingRequest(request: EmbeddingRequest): { req: RouterCompletionRequest; body: Record<string, unknown>; inputTokens: number } {
  if (!isPlainObject(request)) throw new ValidationError('request', request, 'must be an object like { model, body, inputTokens }');
  const { body, inputTokens, ...rest } = request;
  if (!isPlainObject(body)) throw new ValidationError('body', body, 'must be an object (the embeddings request body)');
  if (typeof inputTokens !== 'number' || !Number.isSafeInteger(inputTokens) || inputTokens < 0) {
    throw new ValidationError('inputTokens', inputTokens, 'must be an integer >= 0');
  }
  return { req: validateRequest({ ...rest, messages: [] }), body, inputTokens };
}
