import { callAbortOf, withCallAbort } from '../core/abort.js';
import { ValidationError } from '../core/errors.js';
import { isPlainObject } from '../core/objects.js';
import { WIRE_APIS, type CompletionRequest, type ForwardEvent, type WireApi } from '../core/types.js';
import type { RouterCallHooks, RouterCompletionRequest } from './call-hooks.js';
import type { RouterCharge } from './charge.js';
import { bodyPromptCeiling } from './plausibility.js';
import { validateRequest } from './validate-request.js';

/**
 * What a caller asks {@link LLMRouter.forward} / `forwardStream` for: a request of one wire API whose body
 * goes to a backend speaking that API natively, unchanged, with the figures its budget is made of.
 */
export interface ForwardCallRequest
  extends Omit<CompletionRequest, 'messages' | 'maxTokens' | 'temperature' | 'topP' | 'stop' | 'tools' | 'toolChoice'>,
    RouterCallHooks {
  api: WireApi;
  /** The request body, sent as it is (OpenAI's or Anthropic's request of `api`). */
  body: Record<string, unknown>;
  /** `body` as the client's JSON text, when the caller has it and added nothing: sent byte for byte. */
  rawBody?: string;
  /** Client headers the API passes on (`anthropic-version`, `anthropic-beta`), lower-case names. */
  headers?: Record<string, string>;
  /** The client's query string (without `?`), passed on to the upstream URL. */
  query?: string;
  /** The prompt's token estimate: the input part of the reservation. */
  inputTokens: number;
  /** The request's output cap per choice (`max_tokens`, `max_output_tokens`, ...), when it sets one. */
  maxOutputTokens?: number;
  /** Choices asked for (`n`); the reservation and the output limit cover all of them. Default 1. */
  choices?: number;
  /**
   * The most prompt tokens an honest upstream could report for this body. Default: from the body (one
   * token per byte of its JSON, plus allowances per media part): see `bodyPromptCeiling`.
   */
  promptCeiling?: number;
}

/** The answer of {@link LLMRouter.forward}: the backend's body as it sent it, its model, and what was charged. */
export interface RouterForward extends RouterCharge {
  body: unknown;
  /** `body` as the upstream's JSON text, when the backend kept it. */
  rawBody?: string;
  model: string;
}

/**
 * The end of {@link LLMRouter.forwardStream}: what was charged, and the events held back until then (the
 * upstream's last events: its usage chunk, its end marker), for the caller to send once the charge is stored.
 */
export interface RouterForwardEnd extends RouterCharge {
  type: 'usage';
  tail: ForwardEvent[];
}

/** One item of {@link LLMRouter.forwardStream}: an upstream event as sent, or the end. */
export type RouterForwardChunk = ForwardEvent | RouterForwardEnd;

/** A checked forward request: the completion request its budget and event are made from, and its figures. */
export interface CheckedForward {
  req: RouterCompletionRequest;
  api: WireApi;
  body: Record<string, unknown>;
  rawBody: string | undefined;
  headers: Record<string, string> | undefined;
  query: string | undefined;
  inputTokens: number;
  choices: number;
  /** The prompt ceiling, worked out only when usage is judged (once per call, after the answer). */
  promptCeiling: () => number;
}

const APIS: ReadonlySet<string> = new Set(WIRE_APIS);

const constant = (n: number) => (): number => n;

function wholeNumber(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new ValidationError(field, value, `must be an integer >= ${min}`);
  return value;
}

/** The fields of a forward request; the completion-request ones are checked by validateRequest. */
const FORWARD_KEYS: ReadonlySet<string> = new Set([
  'api', 'model', 'body', 'rawBody', 'headers', 'query', 'inputTokens', 'maxOutputTokens', 'choices', 'promptCeiling',
  'threadId', 'agentId', 'metadata', 'signal', 'timeoutMs', 'onReserved',
]);
const PASSED_ON = ['threadId', 'agentId', 'metadata', 'signal', 'timeoutMs', 'onReserved'] as const;

function checkHeaders(headers: unknown): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  if (!isPlainObject(headers)) throw new ValidationError('headers', headers, 'must be an object of strings');
  for (const name in headers) if (typeof headers[name] !== 'string') throw new ValidationError(`headers.${name}`, headers[name], 'must be a string');
  return headers as Record<string, string>;
}

/**
 * Checks a forward request (hand-written like validateRequest: a per-call path; a `for...in` over its keys
 * and no spread, so a gateway call pays no copy). The completion request it returns has no messages; its
 * `maxTokens` is the cap of all choices together.
 */
export function validateForwardRequest(request: ForwardCallRequest): CheckedForward {
  if (!isPlainObject(request)) throw new ValidationError('request', request, 'must be an object like { api, model, body, inputTokens }');
  for (const key in request) {
    if (!FORWARD_KEYS.has(key)) throw new ValidationError(key, (request as unknown as Record<string, unknown>)[key], `unknown request field (expected one of ${[...FORWARD_KEYS].join(', ')})`);
  }
  const { api, body, rawBody, inputTokens, maxOutputTokens, choices, promptCeiling } = request;
  if (typeof api !== 'string' || !APIS.has(api)) throw new ValidationError('api', api, `must be one of ${WIRE_APIS.join(', ')}`);
  if (!isPlainObject(body)) throw new ValidationError('body', body, 'must be an object (the request body)');
  if (rawBody !== undefined && typeof rawBody !== 'string') throw new ValidationError('rawBody', rawBody, 'must be a string (the body as JSON text)');
  const headers = checkHeaders(request.headers);
  const query = request.query;
  // What a URL's query may hold, unencoded: anything else would change the upstream request line.
  if (query !== undefined && (typeof query !== 'string' || !/^[\x21-\x7e]*$/.test(query))) throw new ValidationError('query', query, 'must be a query string of printable ASCII characters');
  const n = choices === undefined ? 1 : wholeNumber('choices', choices, 1);
  const req: RouterCompletionRequest = { model: request.model, messages: [] };
  for (const key of PASSED_ON) if (request[key] !== undefined) (req as unknown as Record<string, unknown>)[key] = request[key];
  if (maxOutputTokens !== undefined) req.maxTokens = wholeNumber('maxOutputTokens', maxOutputTokens, 1) * n;
  const callAbort = callAbortOf(request); // a caller's abort scope (the gateway's, for a client that leaves)
  if (callAbort !== undefined) withCallAbort(req, callAbort);
  return {
    req: validateRequest(req),
    api,
    body,
    rawBody,
    headers,
    query: query === '' ? undefined : query,
    inputTokens: wholeNumber('inputTokens', inputTokens, 0),
    choices: n,
    promptCeiling: promptCeiling === undefined ? () => bodyPromptCeiling(body, rawBody) : constant(wholeNumber('promptCeiling', promptCeiling, 0)),
  };
}
