import type { Runtime, TokenwardenConfig } from '../../server/index.js';

/** The start-up banner: where the gateway listens, what it was built from, and a request to try. */
export function formatServeBanner(config: TokenwardenConfig, runtime: Runtime, url: string): string {
  const keysLine =
    config.keys.length === 0
      ? 'none configured: open access, loopback only, JSON bodies and loopback Host names only (WARNING: any local process can use this gateway)'
      : `${config.keys.length} configured (${config.keys.filter((k) => k.admin).length} admin): Authorization: Bearer required`;
  const lines = [
    `tokenwarden gateway listening on ${url}`,
    `  config     ${config.file ?? 'none (defaults and environment)'}`,
    ...Object.entries(config.envOverrides).map(([v, what]) => `  env        ${v} sets ${what}`),
    `  store      ${runtime.describe.store}`,
    `  ledger     ${runtime.describe.ledger}`,
    ...runtime.describe.providers.map((p, i) => `  ${i === 0 ? 'providers ' : '          '} ${p}`),
    `  budgets    ${config.budgets.defaultMaxTokens} tokens per thread by default${config.budgets.requireThread ? '; x-thread-id required' : ''}`,
    ...(config.budgets.policies.length > 0 ? [`  policies   ${policiesLine(config.budgets.policies.map((p) => p.name))} (GET /v1/budgets)`] : []),
    ...(config.prices.length > 0 ? [`  prices     ${pricesLine(config.prices.map((p) => p.key))}`] : []),
    `  keys       ${keysLine}`,
    `  browsers   ${config.server.corsOrigins.length === 0 ? 'no web origin may call this gateway (server.cors_origins)' : `CORS for ${config.server.corsOrigins.join(', ')}`}`,
    `  dashboard  ${url}/`,
    `  try        curl ${url}/v1/chat/completions -H 'content-type: application/json' -H 'x-thread-id: demo' \\`,
    `               -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
  ];
  return lines.join('\n') + '\n';
}

/** `2 from the config, over the catalog: my-llama-*, gpt-4o` (the first five keys). */
function pricesLine(keys: string[]): string {
  const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, and ${keys.length - 5} more` : '');
  return `${keys.length} from the config, over the catalog: ${shown}`;
}

/** `3: user-daily, acme-monthly, key-rate` (the first five names). */
function policiesLine(names: string[]): string {
  return `${names.length}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`;
}
