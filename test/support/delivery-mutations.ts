/**
 * Servers that deliver notifications wrongly (each breaks one rule of push
 * delivery in spec/pushers.md) and servers that deliver differently in ways the
 * spec allows. They wrap the reference server through proxy-server.ts and its
 * push relay: the reference server delivers as it should, and the relay
 * changes what reaches the mock gateway, or what the reference server hears back.
 */
import { advertising, readsNonFinite, versionsUpTo, type Broken } from './mutations.js';
import { body, isSet, json, type Json, type Mutation, type ProxyRequest, type ProxyResponse } from './proxy-server.js';
import { ok, type PushApi, type PushCall, type RelayAnswer, type RelayedPusher } from './push-relay.js';
import { RULES_ANY_EVENT_CASES, RULES_ARRIVAL_REQUIREMENTS, RULES_DELIVERY_CASES } from './pushrules-mutations.js';
import { scaled, WITHIN_QUIET_MS } from './timing.js';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const parse = (text: string): Json => {
  try {
    const v = JSON.parse(text) as unknown;
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
};

const notificationOf = (call: PushCall): Json => (isObject(call.body['notification']) ? call.body['notification'] : {});
/** The call's body with its notification rewritten. */
const withNotification = (call: PushCall, fn: (n: Json) => Json): Json => ({ ...call.body, notification: fn({ ...notificationOf(call) }) });
/** The call's body with every device rewritten. */
const withDevices = (call: PushCall, fn: (d: Json) => Json): Json =>
  withNotification(call, (n) => ({ ...n, devices: (Array.isArray(n['devices']) ? n['devices'] : []).map((d: unknown) => (isObject(d) ? fn({ ...d }) : d)) }));
const eventIdOf = (call: PushCall): string | undefined => {
  const id = notificationOf(call)['event_id'];
  return typeof id === 'string' ? id : undefined;
};
const isEventIdOnly = (p: RelayedPusher): boolean => p.data['format'] === 'event_id_only';

/** A device entry for a pusher, as the Push Gateway API describes it (data without url). */
function deviceOf(p: RelayedPusher): Json {
  const { url: _url, ...data } = p.data;
  return { app_id: p.appId, pushkey: p.pushkey, data };
}

const SEND = /\/rooms\/([^/]+)\/send\/([^/]+)\/[^/]+$/;
const RECEIPT = /\/rooms\/[^/]+\/receipt\/[^/]+\/[^/]+$/;

/** A message the proxy saw sent: what a server needs to write a full notification about it. */
interface SentEvent {
  room_id: string;
  type: string;
  sender: string | undefined;
  content: unknown;
}
/** Remembers every message sent through the proxy, by event id. */
const rememberSent = (req: ProxyRequest, res: ProxyResponse, state: Map<string, unknown>, push: PushApi): SentEvent & { event_id: string; token: string } | undefined => {
  const m = SEND.exec(req.path);
  const eventId = parse(res.body)['event_id'];
  if (req.method !== 'PUT' || !m || res.status !== 200 || typeof eventId !== 'string' || !req.token) return undefined;
  const sent = (state.get('sent') as Map<string, SentEvent> | undefined) ?? new Map<string, SentEvent>();
  state.set('sent', sent);
  const event = { room_id: decodeURIComponent(m[1] as string), type: decodeURIComponent(m[2] as string), sender: push.userOf(req.token), content: req.json };
  sent.set(eventId, event);
  return { ...event, event_id: eventId, token: req.token };
};

/** A badge update as Synapse sends one: counts alone, with an empty id and sender and a null type. */
const badge = (p: RelayedPusher, unread: number): Json => ({ notification: { id: '', type: null, sender: '', counts: { unread }, devices: [deviceOf(p)] } });

/**
 * The v1 delivery cases that wait for a poke. The one about a pusher holding
 * NaN ends where the reference server refuses it, and waits for none; 1e400 is
 * kept, as null, since the proxy writes the set body again to put its relay in
 * place of the gateway's URL (JSON.stringify writes Infinity as null).
 */
const V1_DELIVERY = ['v1.push.message-poked', 'v1.push.data-forwarded', 'v1.push.data-out-of-range', 'v1.push.data-present', 'v1.push.data-url-only', 'v1.push.event-id-only', 'v1.push.every-pusher', 'v1.push.own-message-not-poked', 'v1.push.rejected-pushkey', 'v1.push.retry-after-error', 'v1.push.stops-after-delete', 'v1.push.unread-after-receipt', ...RULES_DELIVERY_CASES];
/** Every device of the call rewritten: its data, when the pusher's holds nothing but url, as `empty` says (null, or left out). */
const urlOnlyData = (call: PushCall, empty: 'null' | 'absent'): Json =>
  withDevices(call, ({ data, ...d }) => (isObject(data) && Object.keys(data).length === 0 ? (empty === 'null' ? { ...d, data: null } : d) : { ...d, data }));

/** Servers that break one rule of push delivery each. */
export const BROKEN_DELIVERY: Broken[] = [
  {
    name: 'v1: no notification is ever sent to a v1 pusher',
    violates: 'v1.push.poked',
    fails: V1_DELIVERY,
    // Push rules cases whose notification is the effect of the rule they check fail on that rule.
    alsoCites: RULES_ARRIVAL_REQUIREMENTS,
    delivery: true,
    onPush: (call) => (call.pushers[0]?.edition === 'v1' ? ok() : undefined),
  },
  {
    name: 'draft: no notification is ever sent to a draft pusher',
    violates: 'draft.push.poked',
    fails: ['draft.push.http-poke'],
    delivery: true,
    onPush: (call) => (call.pushers[0]?.edition === 'draft' ? ok() : undefined),
  },
  {
    name: 'v1: devices carry no app_id',
    violates: 'v1.push.devices',
    fails: ['v1.push.message-poked', 'v1.push.every-pusher', 'v1.push.event-id-only'],
    alsoCites: ['v1.push.every-pusher'],
    delivery: true,
    onPush: (call) => call.forward(withDevices(call, ({ app_id: _a, ...d }) => d)),
  },
  {
    // The gateway cannot tell whose notification names a pushkey it does not know: the pusher was never notified.
    name: 'v1: notifications name another pushkey than the pusher\'s, so the pusher is never notified',
    violates: 'v1.push.poked',
    fails: V1_DELIVERY,
    alsoCites: RULES_ARRIVAL_REQUIREMENTS,
    delivery: true,
    onPush: (call) => (call.pushers[0]?.edition === 'v1' ? call.forward(withDevices(call, (d) => ({ ...d, pushkey: `${String(d['pushkey'])}-other` }))) : undefined),
  },
  {
    name: 'v1: notifications leave out the event id',
    // The 1e400 case takes a poke that names no event (one it cannot parse names none), and judges only its form.
    violates: 'v1.push.event-id',
    fails: V1_DELIVERY.filter((id) => id !== 'v1.push.data-out-of-range' && !RULES_ANY_EVENT_CASES.includes(id)),
    // Only the case that waits for any poke can read one without an event id; the others wait for a poke about
    // their event, and one that does not say which event it is about is not that poke.
    alsoCites: ['v1.push.poked', ...RULES_ARRIVAL_REQUIREMENTS],
    delivery: true,
    onPush: (call) => call.forward(withNotification(call, ({ event_id: _e, ...n }) => n)),
  },
  {
    name: 'v1: devices of event_id_only notifications carry no app_id',
    violates: 'v1.push.devices',
    fails: ['v1.push.event-id-only'],
    delivery: true,
    onPush: (call) => (call.pushers[0] && isEventIdOnly(call.pushers[0]) ? call.forward(withDevices(call, ({ app_id: _a, ...d }) => d)) : undefined),
  },
  {
    name: 'v1: the device data carries the pusher\'s url too, for pushers of the full format only',
    violates: 'v1.push.data-forwarded',
    fails: ['v1.push.data-forwarded'],
    delivery: true,
    onPush: (call) => (call.pushers[0] && !isEventIdOnly(call.pushers[0]) ? call.forward(withDevices(call, (d) => ({ ...d, data: { ...(isObject(d['data']) ? d['data'] : {}), url: call.pushers[0]?.url } }))) : undefined),
  },
  {
    name: 'v1: the device data carries the pusher\'s url too',
    violates: 'v1.push.data-forwarded',
    fails: ['v1.push.data-forwarded'],
    delivery: true,
    onPush: (call) => call.forward(withDevices(call, (d) => ({ ...d, data: { ...(isObject(d['data']) ? d['data'] : {}), url: call.pushers[0]?.url } }))),
  },
  {
    name: 'v1: the device data keeps format only, custom keys are dropped',
    violates: 'v1.push.data-forwarded',
    fails: ['v1.push.data-forwarded'],
    delivery: true,
    onPush: (call) => call.forward(withDevices(call, (d) => ({ ...d, data: isObject(d['data']) && 'format' in d['data'] ? { format: d['data']['format'] } : {} }))),
  },
  {
    name: 'v1: a pusher whose data holds only url is notified with "data": null (as Dendrite does)',
    violates: 'v1.push.data-object',
    fails: ['v1.push.data-url-only'],
    delivery: true,
    onPush: (call) => call.forward(urlOnlyData(call, 'null')),
  },
  {
    name: 'v1: devices never carry data (advertising v1.13 and later, where it must be forwarded)',
    violates: 'v1.push.data-present',
    fails: ['v1.push.data-present'],
    delivery: true,
    onPush: (call) => call.forward(withDevices(call, ({ data: _d, ...d }) => d)),
  },
  {
    name: 'v1: NaN and Infinity read as Python\'s json reads them (1e400 as Infinity), listed as null, but notifications write them as bare NaN and Infinity',
    violates: 'v1.push.json',
    fails: ['v1.push.data-nan', 'v1.push.data-out-of-range'],
    delivery: true,
    ...readsNonFinite({ listed: 'null', poked: 'bare' }),
  },
  {
    name: 'v1: the sender of a message is notified of it too',
    violates: 'v1.push.not-own',
    fails: ['v1.push.own-message-not-poked'],
    delivery: true,
    onResponse: async (req, res, state, push) => {
      const sent = rememberSent(req, res, state, push);
      if (!sent) return undefined;
      for (const p of push.pushersOf(sent.token).filter((x) => x.edition === 'v1')) {
        const { token: _t, ...event } = sent;
        await push.send(p, { notification: { ...event, prio: 'high', counts: { unread: 1 }, devices: [deviceOf(p)] } });
      }
      return undefined;
    },
  },
  {
    name: 'v1: a deleted pusher is still notified (the delete is answered, but the pusher is only hidden from GET)',
    violates: 'v1.push.stops-after-delete',
    fails: ['v1.push.stops-after-delete'],
    delivery: true,
    onRequest: (req, state, _forward, push) => {
      const b = body(req);
      if (!isSet(req, 'v1') || !('kind' in b) || b['kind'] !== null || typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string' || !push.pusher(b['app_id'], b['pushkey'])) return undefined;
      const hidden = (state.get('hidden') as Set<string> | undefined) ?? new Set<string>();
      state.set('hidden', hidden);
      hidden.add(`${b['app_id']}\n${b['pushkey']}`);
      return json(200, {});
    },
    onResponse: (req, res, state) => {
      const hidden = state.get('hidden') as Set<string> | undefined;
      if (!hidden || req.method !== 'GET' || !/\/pushers$/.test(req.path) || res.status !== 200) return undefined;
      const answer = parse(res.body);
      const pushers = Array.isArray(answer['pushers']) ? answer['pushers'].filter((p: unknown) => !(isObject(p) && hidden.has(`${String(p['app_id'])}\n${String(p['pushkey'])}`))) : answer['pushers'];
      return { ...res, body: JSON.stringify({ ...answer, pushers }) };
    },
  },
  {
    name: 'v1: only the pusher a user set first is notified',
    violates: 'v1.push.every-pusher',
    // The cases with a second pusher: its poke never comes.
    fails: ['v1.push.every-pusher', 'v1.push.data-forwarded', 'v1.push.stops-after-delete', 'v1.push.rejected-pushkey'],
    alsoCites: ['v1.push.poked'],
    delivery: true,
    onPush: (call, _state, push) => {
      const p = call.pushers[0];
      return p && push.pushersOf(p.token)[0] !== p ? ok() : undefined;
    },
  },
  {
    name: 'v1: a pushkey the gateway rejects is kept and notified again',
    violates: 'v1.push.rejected',
    fails: ['v1.push.rejected-pushkey'],
    delivery: true,
    onPush: async (call) => {
      const answer = await call.forward();
      return answer.status === 200 ? ok() : answer;
    },
  },
  {
    name: 'v1: a rejection is acted on for the pusher a user set first only; the others stay and are notified again',
    violates: 'v1.push.rejected',
    fails: ['v1.push.rejected-pushkey'],
    delivery: true,
    onPush: async (call, _state, push) => {
      const answer = await call.forward();
      const p = call.pushers[0];
      return answer.status === 200 && p && push.pushersOf(p.token)[0] !== p ? ok() : answer;
    },
  },
  {
    // Late, but within the quiet period any run states: the check sees it.
    name: `v1: the sender of a message is notified of it too, ${WITHIN_QUIET_MS} ms later (half the shortest quiet period)`,
    violates: 'v1.push.not-own',
    fails: ['v1.push.own-message-not-poked'],
    delivery: true,
    onResponse: (req, res, state, push) => {
      const sent = rememberSent(req, res, state, push);
      if (!sent) return undefined;
      const { token, ...event } = sent;
      setTimeout(() => {
        for (const p of push.pushersOf(token).filter((x) => x.edition === 'v1')) void push.send(p, { notification: { ...event, prio: 'high', counts: { unread: 1 }, devices: [deviceOf(p)] } });
      }, WITHIN_QUIET_MS);
      return undefined;
    },
  },
  {
    name: 'v1: format event_id_only notifications leave out counts',
    violates: 'v1.push.event-id-only',
    fails: ['v1.push.event-id-only'],
    delivery: true,
    onPush: (call) => (call.pushers[0] && isEventIdOnly(call.pushers[0]) ? call.forward(withNotification(call, ({ counts: _c, ...n }) => n)) : undefined),
  },
  {
    name: 'v1: a notification the gateway answers with an error is never sent again',
    violates: 'v1.push.retry',
    fails: ['v1.push.retry-after-error'],
    delivery: true,
    onPush: async (call) => {
      const answer = await call.forward();
      return answer.status >= 500 ? ok() : answer;
    },
  },
  {
    name: 'v1: no retry, but every notification is sent twice at once (the copy is not a retry)',
    violates: 'v1.push.retry',
    fails: ['v1.push.retry-after-error'],
    delivery: true,
    onPush: async (call) => {
      const [answer] = await Promise.all([call.forward(), call.forward()]);
      return answer.status >= 500 ? ok() : answer;
    },
  },
  {
    name: 'v1: counts.unread counts every notification ever sent to the pusher, read or not',
    violates: 'v1.push.unread-after-receipt',
    fails: ['v1.push.unread-after-receipt'],
    delivery: true,
    onPush: (call, state) => {
      const counts = (state.get('counts') as Map<string, number> | undefined) ?? new Map<string, number>();
      state.set('counts', counts);
      const key = call.pushers[0]?.pushkey ?? '';
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return call.forward(withNotification(call, (x) => ({ ...x, counts: { unread: n } })));
    },
  },
];

/** Several notifications about one event for one user's pushers at one gateway, sent as one request holding every device. */
function batching(): Pick<Mutation, 'onPush'> {
  interface Batch {
    calls: Array<{ call: PushCall; resolve: (a: RelayAnswer) => void }>;
  }
  const batches = new Map<string, Batch>();
  return {
    onPush: (call) => {
      const key = `${call.pushers[0]?.token ?? ''}\n${call.pushers[0]?.url ?? ''}\n${eventIdOf(call) ?? Math.random()}`;
      return new Promise<RelayAnswer>((resolve) => {
        const open = batches.get(key);
        if (open) {
          open.calls.push({ call, resolve });
          return;
        }
        const batch: Batch = { calls: [{ call, resolve }] };
        batches.set(key, batch);
        setTimeout(() => {
          batches.delete(key);
          void (async () => {
            const devices = batch.calls.flatMap(({ call: c }) => (Array.isArray(notificationOf(c)['devices']) ? (notificationOf(c)['devices'] as unknown[]) : []));
            const answer = await call.forward(withNotification(call, (n) => ({ ...n, devices })));
            const rejected = parse(answer.body)['rejected'];
            for (const { call: c, resolve: r } of batch.calls) {
              const mine = new Set(c.pushers.map((p) => p.pushkey));
              r(answer.status === 200 ? ok(Array.isArray(rejected) ? rejected.filter((k): k is string => typeof k === 'string' && mine.has(k)) : []) : answer);
            }
          })();
        }, 150);
      });
    },
  };
}

/** Servers that deliver in ways the spec allows: they must pass, with --strict. */
export const ALLOWED_DELIVERY: Mutation[] = [
  {
    name: 'delivery: notifications carry extra fields (room_name, sender_display_name, user_is_target, a custom key, a device tweak of the server\'s own) and prio "low"',
    delivery: true,
    onPush: (call) => {
      const extra = withNotification(call, (n) => ({ ...n, prio: 'low', room_name: 'A room', sender_display_name: 'Bob', user_is_target: false, 'org.example.extra': { nested: [1] } }));
      // A tweak of the server's own beside those the push rules set (which must stay as they are).
      return call.forward({ ...extra, notification: { ...(extra['notification'] as Json), devices: ((extra['notification'] as Json)['devices'] as Json[]).map((d) => ({ ...d, tweaks: { 'org.example.led': 'green', ...(isObject(d['tweaks']) ? d['tweaks'] : {}) } })) } });
    },
  },
  {
    name: 'delivery: badge-only updates (as Synapse writes them) when a pusher is set, after each message to its sender and after each read receipt',
    delivery: true,
    onResponse: async (req, res, state, push) => {
      if (res.status !== 200 || !req.token) return undefined;
      const b = body(req);
      const sent = rememberSent(req, res, state, push);
      const targets = isSet(req) && typeof b['kind'] === 'string' && typeof b['app_id'] === 'string' && typeof b['pushkey'] === 'string' ? [push.pusher(b['app_id'], b['pushkey'])] : sent || (req.method === 'POST' && RECEIPT.test(req.path)) ? push.pushersOf(req.token) : [];
      for (const p of targets) if (p) await push.send(p, badge(p, 0));
      return undefined;
    },
  },
  {
    name: 'delivery: one request holds every device of a user notified of an event',
    delivery: true,
    ...batching(),
  },
  {
    name: 'delivery: format event_id_only pushers get the full notification (type, sender, content) too',
    delivery: true,
    onResponse: (req, res, state, push) => void rememberSent(req, res, state, push),
    onPush: (call, state) => {
      const event = (state.get('sent') as Map<string, SentEvent> | undefined)?.get(eventIdOf(call) ?? '');
      if (!event || !call.pushers[0] || !isEventIdOnly(call.pushers[0])) return undefined;
      return call.forward(withNotification(call, (n) => ({ type: event.type, ...(event.sender ? { sender: event.sender } : {}), content: event.content, ...n })));
    },
  },
  {
    name: 'delivery: badge-only updates that name the room (counts and room_id, no event) to its creator when a member joins',
    delivery: true,
    onResponse: async (req, res, state, push) => {
      if (res.status !== 200 || !req.token) return undefined;
      const creators = (state.get('creators') as Map<string, string> | undefined) ?? new Map<string, string>();
      state.set('creators', creators);
      const created = parse(res.body)['room_id'];
      if (req.method === 'POST' && /\/createRoom$/.test(req.path) && typeof created === 'string') creators.set(created, req.token);
      const m = /\/rooms\/([^/]+)\/join$/.exec(req.path);
      const room = m ? decodeURIComponent(m[1] as string) : undefined;
      const creator = room === undefined ? undefined : creators.get(room);
      if (req.method !== 'POST' || room === undefined || creator === undefined) return undefined;
      for (const p of push.pushersOf(creator)) await push.send(p, { notification: { room_id: room, counts: { unread: 0 }, devices: [deviceOf(p)] } });
      return undefined;
    },
  },
  {
    name: `delivery: a rejection is acted on ${WITHIN_QUIET_MS} ms after the gateway answered it (half the shortest time a run gives)`,
    delivery: true,
    onPush: async (call) => {
      const answer = await call.forward();
      const rejected = parse(answer.body)['rejected'];
      if (Array.isArray(rejected) && rejected.length > 0) await sleep(WITHIN_QUIET_MS);
      return answer;
    },
  },
  {
    name: 'delivery: draft pushers get a flat poke of their own shape (event_id, room_id, app_id, pushkey), not the Push Gateway API body',
    delivery: true,
    onPush: (call) => {
      const p = call.pushers[0];
      if (!p || p.edition !== 'draft') return undefined;
      const n = notificationOf(call);
      return call.forward({ event_id: n['event_id'], room_id: n['room_id'], app_id: p.appId, pushkey: p.pushkey });
    },
  },
  {
    name: 'delivery: devices never carry data, advertising up to v1.12 (before v1.13 servers need not forward it)',
    delivery: true,
    onRequest: advertising(versionsUpTo('v1.12')),
    onPush: (call) => call.forward(withDevices(call, ({ data: _d, ...d }) => d)),
  },
  {
    name: 'delivery: a pusher whose data holds only url is notified without data',
    delivery: true,
    onPush: (call) => call.forward(urlOnlyData(call, 'absent')),
  },
  {
    name: `delivery: every notification is sent 1.5 s late (${scaled(1500)} ms on the tests' time scale)`,
    delivery: true,
    onPush: async (call) => {
      await sleep(scaled(1500));
      return call.forward();
    },
  },
];

/** A server with no rooms at all: it serves the pushers API and answers /createRoom 404 M_UNRECOGNIZED. */
export const NO_ROOMS: Mutation = {
  name: 'delivery: no rooms at all (404 M_UNRECOGNIZED on /createRoom)',
  delivery: true,
  onRequest: (req) => (/\/createRoom$/.test(req.path) ? json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }) : undefined),
};
