/**
 * `tokenwarden/ai-sdk`: budgets and metering for the Vercel AI SDK (`ai` 6.x, language-model
 * specification v3), as a `wrapLanguageModel` middleware. Loads nothing from `ai` at run time.
 */
export { tokenwardenBudget, type TokenwardenBudgetOptions } from './middleware.js';
export { estimateAiSdkPrompt } from './prompt-estimate.js';
export type { IntegrationOptions } from '../integration-options.js';
export { BudgetExhaustedError, PolicyExhaustedError, RateLimitedError, UnpricedModelError } from '../../core/errors.js';
