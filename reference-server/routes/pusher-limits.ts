import type { JsonObject } from '../json.js';
import { formatBytes, resourceLimitExceeded, tooLarge, type Limits } from '../limits.js';
import type { HandlerResult } from '../result.js';
import type { SetRefusal } from '../store/types.js';

export type PusherJson = { ok: true; json: string } | { ok: false; error: HandlerResult };

/**
 * The pusher as it will be stored and listed, serialised once, or 400 M_TOO_LARGE
 * when its `data` or the whole of it is over its cap. Both sizes are those of the
 * JSON the server would store, so a client can predict them from what it sends.
 */
export function serializePusher(pusher: JsonObject & { data: JsonObject }, limits: Limits): PusherJson {
  const dataBytes = Buffer.byteLength(JSON.stringify(pusher.data), 'utf8');
  if (dataBytes > limits.maxPusherDataBytes) {
    return { ok: false, error: tooLarge(`data: ${dataBytes} bytes as JSON; this server keeps at most ${formatBytes(limits.maxPusherDataBytes)} of data per pusher`) };
  }
  const json = JSON.stringify(pusher);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > limits.maxPusherBytes) {
    return { ok: false, error: tooLarge(`the pusher is ${bytes} bytes as JSON; this server keeps pushers of at most ${formatBytes(limits.maxPusherBytes)}`) };
  }
  return { ok: true, json };
}

/** 403 M_RESOURCE_LIMIT_EXCEEDED for a set the store refused. */
export function refusalError(refusal: SetRefusal, limits: Limits): HandlerResult {
  if (refusal === 'user-full') {
    return resourceLimitExceeded(
      limits,
      `You already have ${limits.maxPushersPerUser} pushers, the most one user may hold on this server; delete one (kind null) before adding another (updating an existing one in place is still allowed)`,
    );
  }
  return resourceLimitExceeded(limits, `This server's pusher storage is full (${formatBytes(limits.maxPusherStorageBytes)}); delete pushers, or restart the server to empty it`);
}
