import { findProvider } from '@pydantic/genai-prices';
import { lookupCatalogOf } from './catalog.js';

/** A model the price catalog knows and prices, under the catalog's name for it. */
export interface CatalogModel {
  /** The catalog's model id (`gpt-4o`, `claude-sonnet-4-5`, `grok-3`). */
  id: string;
  /** The catalog's provider id (`openai`, `anthropic`, `x-ai`). */
  provider: string;
}

/** A usable model name: no `ft:` style prefix, no `:variant`, no trailing `-` or `.` (catalog match prefixes). */
const PLAIN_NAME = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/i;

const cache = new Map<string, readonly CatalogModel[]>();

/**
 * The priced catalog models of one provider (`openai`, `anthropic`, `xai`...), in catalog order: models
 * marked deprecated, ids that are only match prefixes (`ft:gpt-4o`, `gpt-4o-mini-2024-07-18.ft-`) and
 * models without a text-token price (the catalog's own lookup of the id must find that very model) are
 * left out. `[]` for a provider the catalog does not know. Computed once per provider (bundled data).
 *
 * @example
 * ```ts
 * catalogModels('anthropic').map((m) => m.id); // ['claude-2', 'claude-3-5-haiku-latest', ...]
 * ```
 */
export function catalogModels(providerId: string): readonly CatalogModel[] {
  let models = cache.get(providerId);
  if (!models) {
    models = Object.freeze(listModels(providerId));
    cache.set(providerId, models);
  }
  return models;
}

function listModels(providerId: string): CatalogModel[] {
  const provider = findProvider({ providerId });
  if (!provider) return [];
  const out: CatalogModel[] = [];
  for (const model of provider.models) {
    if (model.deprecated === true || !PLAIN_NAME.test(model.id)) continue;
    const entry = lookupCatalogOf(model.id, provider.id);
    if (entry?.modelId === model.id && entry.provider === provider.id) out.push({ id: model.id, provider: provider.id });
  }
  return out;
}
