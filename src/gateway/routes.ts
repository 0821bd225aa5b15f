import { DASHBOARD_PATHS } from './dashboard/index.js';
import { deleteBudget, getBudget, listBudgets, setBudget, topBudgets } from './handlers/budgets.js';
import { chatCompletions } from './handlers/chat-completions.js';
import { serveDashboard } from './handlers/dashboard.js';
import { embeddings } from './handlers/embeddings.js';
import { countTokens, messages } from './handlers/messages.js';
import { completions, responses } from './handlers/responses.js';
import { healthz, readyz } from './handlers/health.js';
import { renderMetrics } from './handlers/metrics.js';
import { getModel, listModels } from './handlers/models.js';
import { refusalHistory } from './handlers/refusals.js';
import { endThread, getThread, listThreads, setThreadBudget } from './handlers/threads.js';
import { usageDaily, usageEvents, usageHourly, usageSummary } from './handlers/usage.js';
import type { Route } from './route-table.js';

/**
 * The gateway's API: one row per method and path. A new endpoint is one row here and one handler file in
 * `handlers/`. Rows of one path list its methods in the order a 405's `Allow` header names them.
 */
export const API_ROUTES: readonly Route[] = [
  { method: 'POST', path: '/v1/chat/completions', handler: chatCompletions },
  { method: 'POST', path: '/v1/responses', handler: responses },
  { method: 'POST', path: '/v1/completions', handler: completions },
  { method: 'POST', path: '/v1/embeddings', handler: embeddings },
  { method: 'POST', path: '/v1/messages', handler: messages },
  { method: 'POST', path: '/v1/messages/count_tokens', handler: countTokens },
  { method: 'GET', path: '/v1/models', handler: listModels },
  { method: 'GET', path: '/v1/models/:id', handler: getModel },
  { method: 'GET', path: '/v1/threads', handler: listThreads },
  { method: 'GET', path: '/v1/threads/:id', handler: getThread },
  { method: 'DELETE', path: '/v1/threads/:id', handler: endThread },
  { method: 'PUT', path: '/v1/threads/:id/budget', handler: setThreadBudget },
  { method: 'GET', path: '/v1/budgets', handler: listBudgets },
  { method: 'GET', path: '/v1/budgets/:policy', handler: topBudgets },
  { method: 'GET', path: '/v1/budgets/:policy/:entity', handler: getBudget },
  { method: 'PUT', path: '/v1/budgets/:policy/:entity', handler: setBudget },
  { method: 'DELETE', path: '/v1/budgets/:policy/:entity', handler: deleteBudget },
  { method: 'GET', path: '/v1/usage/summary', handler: usageSummary },
  { method: 'GET', path: '/v1/usage/daily', handler: usageDaily },
  { method: 'GET', path: '/v1/usage/hourly', handler: usageHourly },
  { method: 'GET', path: '/v1/usage/events', handler: usageEvents },
  { method: 'GET', path: '/healthz', handler: healthz },
  { method: 'HEAD', path: '/healthz', handler: healthz },
  { method: 'GET', path: '/readyz', handler: readyz },
  { method: 'HEAD', path: '/readyz', handler: readyz },
  { method: 'GET', path: '/metrics', handler: renderMetrics },
  { method: 'GET', path: '/v1/metrics/refusals', handler: refusalHistory },
];

/** The dashboard's page and files (option `dashboard`, default on); other methods on them answer 404. */
const DASHBOARD_ROUTES: readonly Route[] = DASHBOARD_PATHS.flatMap((path) =>
  ['GET', 'HEAD'].map((method): Route => ({ method, path, handler: serveDashboard, label: '/', hidden: true })),
);

/** Every route of a gateway with its dashboard on. */
export const ROUTES: readonly Route[] = [...API_ROUTES, ...DASHBOARD_ROUTES];
