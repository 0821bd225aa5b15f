import { resolveCaller } from '../caller.js';
import type { GatewayContext } from '../gateway-context.js';
import { HttpError } from '../http-error.js';
import type { GatewayModel } from '../model-list.js';
import { sendJson } from '../respond.js';
import type { Exchange } from '../route-table.js';

/** A model in OpenAI's model-object shape. */
function modelObject(gw: GatewayContext, m: GatewayModel): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id: m.id, object: 'model', created: Math.floor(gw.startedAt / 1000), owned_by: m.ownedBy };
}

/** `GET /v1/models`: the models clients can use (see `modelsOf`), in OpenAI's list format. */
export function listModels(gw: GatewayContext, ex: Exchange): void {
  resolveCaller(gw.keys, ex.req);
  sendJson(ex.res, 200, { object: 'list', data: gw.models.map((m) => modelObject(gw, m)) });
}

/**
 * `GET /v1/models/{id}` (the id percent-encoded, as the OpenAI SDKs send `a/b`): the listed model, or
 * any other model a backend serves (a dated name behind a `gpt-4o*` pattern), owned by the first backend
 * serving it; otherwise 404 `model_not_found` in OpenAI's shape.
 */
export function getModel(gw: GatewayContext, ex: Exchange): void {
  resolveCaller(gw.keys, ex.req);
  const id = decodeSegment(ex.params.id!);
  const listed = id === undefined ? undefined : gw.models.find((m) => m.id === id);
  if (listed) return sendJson(ex.res, 200, modelObject(gw, listed));
  const backend = id === undefined || id === '' ? undefined : gw.router.backends.find((b) => b.servesModel(id));
  if (backend) return sendJson(ex.res, 200, modelObject(gw, { id: id!, ownedBy: backend.provider }));
  const shown = JSON.stringify((id ?? ex.params.id!).slice(0, 200));
  const names = gw.router.backends.map((b) => b.name);
  throw new HttpError(
    404,
    'invalid_request_error',
    'model_not_found',
    `The model ${shown} does not exist or no backend of this gateway serves it; configured backends: ${names.length ? names.join(', ') : '(none)'}`,
  );
}

/** The decoded path segment; `undefined` when it is not valid percent-encoding (no model has that name). */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
