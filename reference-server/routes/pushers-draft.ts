import type { JsonObject } from '../json.js';
import type { Limits } from '../limits.js';
import { matrixError, ok, type HandlerResult } from '../result.js';
import type { PusherStore } from '../store/types.js';
import type { Validators } from '../validate.js';
import { refusalError, serializePusher } from './pusher-limits.js';
import type { AuthedContext, Route } from './types.js';

/** The TypeScript view of schema `draft/set-request`: kind http needs all eight keys. */
type DraftSetRequest = DraftDelete | DraftUpsert;

interface DraftDelete {
  kind: null;
  app_id: string;
  pushkey: string;
}

interface DraftUpsert {
  kind: 'http';
  pushkey: string;
  instance_handle: string;
  app_id: string;
  app_display_name: string;
  device_display_name: string;
  lang: string;
  data: JsonObject & { url: string };
}

export function draftPusherRoutes(store: PusherStore, validators: Validators, limits: Limits): Route[] {
  return [{ method: 'POST', path: '/_matrix/client/api/v1/pushers/set', auth: true, body: true, handler: (ctx) => set(store, validators, limits, ctx) }];
}

function set(store: PusherStore, validators: Validators, limits: Limits, ctx: AuthedContext): HandlerResult {
  const checked = validators.check<DraftSetRequest>('draft/set-request', ctx.body);
  if (!checked.ok) return checked.error;
  const request = checked.value;
  const userId = ctx.device.userId;
  const key = { userId, appId: request.app_id, pushkey: request.pushkey };

  if (request.kind === null) {
    // The draft allows 200 or 404 for an absent pusher; 200 matches v1 and is idempotent.
    store.delete(key);
    return ok({});
  }

  // The draft says nothing of the scheme; this server sends notifications over TLS only (as the v1
  // edition's security considerations ask), so it refuses a URL it would never send to.
  if (!isHttpsUrl(request.data.url)) {
    return matrixError(400, 'M_INVALID_PARAM', 'data.url: must be an https:// URL; this server never sends notifications in plain text');
  }
  // Nor does it say which path; a safety limit of this server, not a rule of the draft: a pusher may make it
  // post only to the Push Gateway API's notify path, as a v1 pusher may (its set-request schema), and not to
  // any other endpoint of a host it can reach.
  if (!NOTIFY_URL.test(request.data.url)) {
    return matrixError(400, 'M_INVALID_PARAM', `data.url: this server sends notifications only to the path ${NOTIFY_PATH} of a gateway (https://HOST${NOTIFY_PATH}, no query)`);
  }

  // Checked and written with no await in between, so parallel requests cannot both take a handle.
  const holder = store.findByInstanceHandle(userId, request.instance_handle);
  if (holder !== undefined && (holder.appId !== request.app_id || holder.pushkey !== request.pushkey)) {
    return matrixError(400, 'M_INVALID_PARAM', `instance_handle: '${request.instance_handle}' is already used by another of your pushers`);
  }

  const serialized = serializePusher(
    {
      pushkey: request.pushkey,
      kind: request.kind,
      instance_handle: request.instance_handle,
      app_id: request.app_id,
      app_display_name: request.app_display_name,
      device_display_name: request.device_display_name,
      lang: request.lang,
      data: request.data,
    },
    limits,
  );
  if (!serialized.ok) return serialized.error;
  const refusal = store.set({ ...key, instanceHandle: request.instance_handle, kind: request.kind, updatedAtMs: Date.now(), json: serialized.json });
  if (refusal !== undefined) return refusalError(refusal, limits);
  return ok({});
}

const NOTIFY_PATH = '/_matrix/push/v1/notify';
/** The URLs a v1 pusher may name (spec/schemas/v1-set-request.json): https, a host, the notify path, nothing after it. */
const NOTIFY_URL = /^https:\/\/[^/?#\s]+\/_matrix\/push\/v1\/notify$/;

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
