import type { ThresholdEvent } from '../budget/types.js';
import type { BudgetWarning } from './types.js';

const ADVICE = {
  warning: 'plan to wrap up',
  critical: 'wrap up now and keep further calls short',
  final: 'finish with what you have: further calls may be refused',
} as const;

/**
 * Turns a threshold crossing into the frozen {@link BudgetWarning} delivered to the agent whose call
 * crossed it.
 *
 * @example
 * ```ts
 * createBudgetWarning({ threadId: 't', percent: 75, severity: 'warning', percentUsed: 76,
 *   usedTokens: 760, remainingTokens: 240, maxTokens: 1000 }, 'writer').message;
 * // 'Thread budget 76% used (760 of 1,000 tokens, 240 left): plan to wrap up.'
 * ```
 */
export function createBudgetWarning(event: ThresholdEvent, agent: string): BudgetWarning {
  const message =
    `Thread budget ${formatPercent(event.percentUsed)}% used ` +
    `(${formatInt(event.usedTokens)} of ${formatInt(event.maxTokens)} tokens, ` +
    `${formatInt(event.remainingTokens)} left): ${ADVICE[event.severity] ?? ADVICE.warning}.`;
  return Object.freeze({
    type: 'budget_warning',
    threadId: event.threadId,
    agent,
    threshold: event.percent,
    percentUsed: event.percentUsed,
    usedTokens: event.usedTokens,
    remainingTokens: event.remainingTokens,
    maxTokens: event.maxTokens,
    severity: event.severity,
    message,
  });
}

function formatInt(n: number): string {
  return n.toLocaleString('en-US');
}

function formatPercent(p: number): string {
  return Number.isInteger(p) ? String(p) : p.toFixed(1).replace(/\.0$/, '');
}
