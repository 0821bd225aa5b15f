import { readCompletions, readResponses } from './api-bodies.js';
import { nativeRoute } from './native-api.js';

/**
 * `POST /v1/responses` (OpenAI's Responses API, plain and SSE): forwarded unchanged to an OpenAI-compatible
 * backend; reserved from the input estimate and `max_output_tokens`, charged the usage of the final response.
 */
export const responses = nativeRoute(readResponses, 'call it through /v1/chat/completions, which the gateway translates');

/** `POST /v1/completions` (legacy completions, plain and SSE): forwarded unchanged, like the Responses API. */
export const completions = nativeRoute(readCompletions, 'call it through /v1/chat/completions, which the gateway translates');
