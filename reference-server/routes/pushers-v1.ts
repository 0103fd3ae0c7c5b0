import type { JsonObject } from '../json.js';
import type { Limits } from '../limits.js';
import { JsonText, matrixError, ok, type HandlerResult } from '../result.js';
import type { PusherStore } from '../store/types.js';
import type { Validators } from '../validate.js';
import { refusalError, serializePusher } from './pusher-limits.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route } from './types.js';

/** The TypeScript view of schema `v1/set-request`: its if/then makes the split by `kind`. */
type V1SetRequest = V1Delete | V1Upsert;

interface V1Delete {
  kind: null;
  app_id: string;
  pushkey: string;
}

interface V1Upsert {
  kind: string;
  app_id: string;
  pushkey: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag?: string;
  lang: string;
  data: JsonObject;
  append?: boolean;
}

/** JSON Schema's maxLength counts characters; the spec's pushkey limit counts UTF-8 bytes. */
const MAX_PUSHKEY_BYTES = 512;
/** The kinds the v1 spec defines; anything else could never deliver a notification. */
const KINDS: ReadonlySet<string> = new Set(['http', 'email']);

export function v1PusherRoutes(store: PusherStore, validators: Validators, limits: Limits): Route[] {
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => [
    { method: 'GET', path: `${prefix}/pushers`, auth: true, body: false, handler: (ctx) => list(store, ctx) },
    { method: 'POST', path: `${prefix}/pushers/set`, auth: true, body: true, handler: (ctx) => set(store, validators, limits, ctx) },
  ]);
}

/** Assembled from the stored JSON text: `{"pushers":[…]}` is exactly what JSON.stringify would give. */
function list(store: PusherStore, ctx: AuthedContext): HandlerResult {
  const pushers = store.list(ctx.device.userId).map((record) => record.json);
  return ok(new JsonText(`{"pushers":[${pushers.join(',')}]}`));
}

function set(store: PusherStore, validators: Validators, limits: Limits, ctx: AuthedContext): HandlerResult {
  const checked = validators.check<V1SetRequest>('v1/set-request', ctx.body);
  if (!checked.ok) return checked.error;
  const request = checked.value;
  if (Buffer.byteLength(request.pushkey, 'utf8') > MAX_PUSHKEY_BYTES) {
    return matrixError(400, 'M_INVALID_PARAM', `pushkey: must not be longer than ${MAX_PUSHKEY_BYTES} bytes in UTF-8`);
  }
  const userId = ctx.device.userId;

  if (request.kind === null) {
    // Deleting a pusher that is not there is still a success: the end state is the one asked for.
    store.delete({ userId, appId: request.app_id, pushkey: request.pushkey });
    return ok({});
  }
  if (!KINDS.has(request.kind)) {
    return matrixError(400, 'M_INVALID_PARAM', `kind: must be "http", "email" or null, not ${JSON.stringify(request.kind)}`);
  }

  // Field order follows the spec; `append` is an instruction, not part of the pusher.
  const pusher: JsonObject = {
    pushkey: request.pushkey,
    kind: request.kind,
    app_id: request.app_id,
    app_display_name: request.app_display_name,
    device_display_name: request.device_display_name,
  };
  if (request.profile_tag !== undefined) pusher.profile_tag = request.profile_tag;
  pusher.lang = request.lang;
  pusher.data = request.data;
  // Serialised now, so the stored pusher is exactly what was sent even if the parsed body were reused.
  const serialized = serializePusher(pusher as JsonObject & { data: JsonObject }, limits);
  if (!serialized.ok) return serialized.error;

  // Refused before other users' copies are removed: a refused set changes nothing.
  const refusal = store.set({ userId, appId: request.app_id, pushkey: request.pushkey, kind: request.kind, updatedAtMs: Date.now(), json: serialized.json });
  if (refusal !== undefined) return refusalError(refusal, limits);
  if (request.append !== true) store.removeOthers(request.app_id, request.pushkey, userId);
  return ok({});
}
