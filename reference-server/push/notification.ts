/**
 * The body of POST /_matrix/push/v1/notify for one pusher, as the Push Gateway
 * API describes it: the event (only its ids for `format: event_id_only`), the
 * priority, the counts, and the one device, whose `data` is the pusher's
 * without `url` and whose `tweaks` are those the matching push rule set.
 */
import { isJsonObject, type JsonObject } from '../json.js';
import type { MessageEvent } from '../rooms/routes.js';
import type { PusherRecord } from '../store/types.js';

export type Built = { ok: true; url: string; body: string } | { ok: false; problem: string };

export function notificationBody(record: PusherRecord, event: MessageEvent, unread: number, tweaksJson = '{}'): Built {
  let pusher: unknown;
  try {
    pusher = JSON.parse(record.json);
  } catch {
    return { ok: false, problem: 'the stored pusher is not JSON' };
  }
  const data: JsonObject = isJsonObject(pusher) && isJsonObject(pusher.data) ? pusher.data : {};
  const url = data.url;
  if (typeof url !== 'string') return { ok: false, problem: 'the pusher has no data.url' };
  // Every key but url, as set: format and custom keys alike.
  const forwarded: JsonObject = { ...data };
  delete forwarded.url;
  const device = {
    app_id: record.appId,
    pushkey: record.pushkey,
    // The Push Gateway API: "The unix timestamp (in seconds) when the pushkey was last updated" (an integer from v1.3).
    pushkey_ts: Math.floor(record.updatedAtMs / 1000),
    data: forwarded,
    tweaks: JSON.parse(tweaksJson) as JsonObject,
  };
  // Counts whose value is zero "should be omitted"; the object itself stays (event_id_only needs it).
  const counts = unread > 0 ? { unread } : {};
  const eventIdOnly = data.format === 'event_id_only';
  const notification = eventIdOnly
    ? { event_id: event.eventId, room_id: event.roomId, prio: 'high', counts, devices: [device] }
    : { event_id: event.eventId, room_id: event.roomId, type: event.type, sender: event.sender, prio: 'high', counts, devices: [device] };
  let text = JSON.stringify(notification);
  // The content is kept as the JSON text it was sent as, and spliced in unparsed.
  if (!eventIdOnly) text = `{"content":${event.contentJson},${text.slice(1)}`;
  return { ok: true, url, body: `{"notification":${text}}` };
}
