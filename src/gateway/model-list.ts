import type { Backend } from '../core/types.js';
import { catalogModels } from '../pricing/catalog-models.js';

/** A model listed by `GET /v1/models`. */
export interface GatewayModel {
  id: string;
  ownedBy: string;
}

/**
 * The price-catalog providers whose models a wildcard backend (`'*'`, `'gpt-4o*'`) of each provider
 * lists. The mock answers every model: with `'*'` it lists `mock` and the catalog models of openai and
 * anthropic (the two wire protocols clients speak), so a model picker in front of the offline mock shows
 * real names. Providers not here (vllm, ollama, openai-compatible) list only their exact names: what a
 * self-hosted server runs cannot be known from the catalog.
 */
const CATALOG_PROVIDERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['openai', ['openai']],
  ['anthropic', ['anthropic']],
  ['xai', ['xai']],
  ['mock', ['openai', 'anthropic']],
]);

/**
 * The models clients can use through these backends, in backend order, each once (owned by the first
 * backend serving it, as failover routes it): a backend's exact model names, then, when it has a wildcard
 * pattern, the priced catalog models of its provider it serves (by its own `servesModel`). A backend
 * without a `models` list (a test double) lists nothing.
 *
 * @example
 * ```ts
 * modelsOf([createBackend({ provider: 'anthropic', apiKey, models: ['claude-sonnet-4*'] })]);
 * // [{ id: 'claude-sonnet-4-0', ownedBy: 'anthropic' }, { id: 'claude-sonnet-4-5', ownedBy: 'anthropic' }, ...]
 * ```
 */
export function modelsOf(backends: readonly Backend[]): GatewayModel[] {
  const out: GatewayModel[] = [];
  const seen = new Set<string>();
  const add = (id: string, ownedBy: string): void => {
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ id, ownedBy });
  };
  for (const b of backends) {
    const patterns = (b.models ?? []).filter((m): m is string => typeof m === 'string');
    for (const m of patterns) if (!m.includes('*')) add(m, b.provider);
    if (!patterns.some((m) => m.includes('*'))) continue;
    if (b.provider === 'mock' && patterns.includes('*')) add('mock', b.provider);
    for (const provider of CATALOG_PROVIDERS.get(b.provider) ?? []) {
      for (const model of catalogModels(provider)) if (b.servesModel(model.id)) add(model.id, b.provider);
    }
  }
  return out;
}
