/**
 * `tokenwarden/langchain`: budgets and metering for LangChain.js chat models and LLMs (`@langchain/core`
 * 1.x), as a callback handler that refuses a call before it is sent.
 */
export { TokenwardenCallbackHandler, type TokenwardenCallbackOptions } from './callback-handler.js';
export { estimateLangChainPrompt } from './message-estimate.js';
export type { IntegrationOptions } from '../integration-options.js';
export { BudgetExhaustedError, PolicyExhaustedError, RateLimitedError, UnpricedModelError } from '../../core/errors.js';
