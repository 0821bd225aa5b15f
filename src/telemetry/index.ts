/**
 * OpenTelemetry for tokenwarden, through `@opentelemetry/api` only: users bring their own SDK; without one
 * every function here returns an inert handle and records nothing.
 */
export {
  startGenAiSpan,
  recordGenAiCall,
  genAiTelemetryEnabled,
  INERT_GENAI_CALL,
  type GenAiCallStart,
  type GenAiCallCharge,
  type GenAiCallHandle,
  type GenAiUsage,
} from './genai-call.js';
export { startAgentStepSpan, type AgentStepStart, type AgentStepSpan } from './agent-span.js';
export { startServerSpan, type ServerSpan } from './server-span.js';
export { errorFacts, type ErrorFacts } from './error-facts.js';
export { INSTRUMENTATION_SCOPE } from './instruments.js';
export * from './semconv.js';
