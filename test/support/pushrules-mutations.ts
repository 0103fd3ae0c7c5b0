/**
 * Servers that break one rule of spec/pushrules.md each, and servers that
 * differ from the reference server in ways the spec allows. Like the other
 * mutations they wrap the reference server through proxy-server.ts (and its
 * push relay for delivery): the API ones change requests and answers; the
 * delivery ones change what reaches the gateway, or send notifications of
 * their own for events the reference server rightly kept quiet about. No
 * broken behaviour lives in reference-server/.
 */
import type { AllowedAtMust, Broken } from './mutations.js';
import { combine, versionsUpTo } from './mutations.js';
import { body, json, withJson, type Json, type Mutation, type ProxyRequest, type ProxyResponse } from './proxy-server.js';
import { independentPushRules, type IndependentOptions } from './independent-pushrules.js';
import { ok, type PushApi, type PushCall } from './push-relay.js';

type Part = Omit<Mutation, 'name'>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};
const PREFIX = '/_matrix/client/v3/pushrules/';
const KINDS = ['override', 'content', 'room', 'sender', 'underride'];

/** What a request under /pushrules/global/ names: a kind, a rule id and maybe an attribute (enabled, actions). */
interface RulePath {
  kind: string;
  id: string;
  attr?: string;
}
function rulePath(req: ProxyRequest): RulePath | undefined {
  if (!req.path.startsWith(`${PREFIX}global/`)) return undefined;
  const parts = req.path.slice(`${PREFIX}global/`.length).split('/');
  if (parts.length < 2 || parts.length > 3 || parts[1] === '') return undefined;
  try {
    const [kind, id, attr] = parts.map(decodeURIComponent) as [string, string, string | undefined];
    return { kind, id, ...(attr !== undefined ? { attr } : {}) };
  } catch {
    return undefined;
  }
}
const isRulePut = (req: ProxyRequest): RulePath | undefined => {
  const p = req.method === 'PUT' ? rulePath(req) : undefined;
  return p && p.attr === undefined ? p : undefined;
};
const queryOf = (req: ProxyRequest): URLSearchParams => new URLSearchParams(req.query);
const withQuery = (req: ProxyRequest, q: URLSearchParams): ProxyRequest => ({ ...req, query: q.size ? `?${q.toString()}` : '' });

// ---- what the proxy remembers: each user's own rules, rooms, and the events sent ----

interface UserRule {
  kind: string;
  id: string;
  /** The body the client sent (before any mutation rewrote it). */
  sent: Json;
  enabled: boolean;
}
type Rules = Map<string, Map<string, UserRule>>;
const rulesOf = (state: Map<string, unknown>, token: string): Map<string, UserRule> => {
  const all = (state.get('rules') as Rules | undefined) ?? new Map<string, Map<string, UserRule>>();
  state.set('rules', all);
  const mine = all.get(token) ?? new Map<string, UserRule>();
  all.set(token, mine);
  return mine;
};
const ruleKey = (kind: string, id: string): string => `${kind}\n${id}`;
/** The request names a rule the user created (and has not deleted). */
const isOwnRule = (state: Map<string, unknown>, req: ProxyRequest): boolean => {
  const p = rulePath(req);
  return p !== undefined && req.token !== undefined && rulesOf(state, req.token).has(ruleKey(p.kind, p.id));
};

/**
 * Remembers the rules each user sets (as sent, before any rewriting), their
 * enabled state, and deletes; the rooms each user created or joined; and
 * every event sent. Every mutation below starts with it.
 */
const remember: Part = {
  onRequest: (req, state) => {
    if (isRulePut(req)) state.set(`sent ${req.method} ${req.path} ${req.token ?? ''}`, body(req));
    return undefined;
  },
  onResponse: (req, res, state) => {
    if (res.status !== 200 || !req.token) return undefined;
    const p = rulePath(req);
    const mine = rulesOf(state, req.token);
    if (p && req.method === 'PUT' && p.attr === undefined) {
      const sent = (state.get(`sent ${req.method} ${req.path} ${req.token}`) as Json | undefined) ?? body(req);
      mine.set(ruleKey(p.kind, p.id), { kind: p.kind, id: p.id, sent, enabled: true });
    } else if (p && req.method === 'DELETE' && p.attr === undefined) mine.delete(ruleKey(p.kind, p.id));
    else if (p && req.method === 'PUT' && p.attr === 'enabled') {
      const r = mine.get(ruleKey(p.kind, p.id));
      if (r) r.enabled = body(req)['enabled'] === true;
    }
    rememberRooms(req, res, state);
    return undefined;
  },
};

/** Who is in which room (by token), from the proxy's view of createRoom, join and leave. */
function rememberRooms(req: ProxyRequest, res: ProxyResponse, state: Map<string, unknown>): void {
  const rooms = (state.get('rooms') as Map<string, Set<string>> | undefined) ?? new Map<string, Set<string>>();
  state.set('rooms', rooms);
  const token = req.token as string;
  const answer = parse(res.body);
  const created = isObject(answer) ? answer['room_id'] : undefined;
  if (req.method === 'POST' && req.path.endsWith('/createRoom') && typeof created === 'string') rooms.set(created, new Set([token]));
  const m = /\/rooms\/([^/]+)\/(join|leave)$/.exec(req.path);
  if (req.method === 'POST' && m) {
    const room = decodeURIComponent(m[1] as string);
    const members = rooms.get(room) ?? new Set<string>();
    rooms.set(room, members);
    if (m[2] === 'join') members.add(token);
    else members.delete(token);
  }
  const sent = /\/rooms\/([^/]+)\/send\/([^/]+)\/[^/]+$/.exec(req.path);
  const eventId = isObject(answer) ? answer['event_id'] : undefined;
  if (req.method === 'PUT' && sent && typeof eventId === 'string') {
    const events = (state.get('events') as Map<string, SentEvent> | undefined) ?? new Map<string, SentEvent>();
    state.set('events', events);
    events.set(eventId, { eventId, roomId: decodeURIComponent(sent[1] as string), type: decodeURIComponent(sent[2] as string), content: isObject(req.json) ? req.json : {}, token });
  }
}

interface SentEvent {
  eventId: string;
  roomId: string;
  type: string;
  content: Json;
  /** The sender's token. */
  token: string;
}
const eventOf = (state: Map<string, unknown>, eventId: unknown): SentEvent | undefined => (typeof eventId === 'string' ? (state.get('events') as Map<string, SentEvent> | undefined)?.get(eventId) : undefined);
const lastEvent = (state: Map<string, unknown>, req: ProxyRequest, res: ProxyResponse): SentEvent | undefined => {
  const answer = parse(res.body);
  return req.method === 'PUT' && /\/send\//.test(req.path) && isObject(answer) ? eventOf(state, answer['event_id']) : undefined;
};
const membersOf = (state: Map<string, unknown>, roomId: string): string[] => [...((state.get('rooms') as Map<string, Set<string>> | undefined)?.get(roomId) ?? [])];

/** The other members of the event's room for whom `wants` holds are sent a notification about it, with these tweaks. */
async function notifyOthers(push: PushApi, state: Map<string, unknown>, event: SentEvent, tweaks: (token: string) => Json | undefined): Promise<void> {
  for (const token of membersOf(state, event.roomId).filter((t) => t !== event.token)) {
    const t = tweaks(token);
    if (t === undefined) continue;
    for (const p of push.pushersOf(token).filter((x) => x.edition === 'v1')) {
      const { url: _url, ...data } = p.data;
      const sender = push.userOf(event.token);
      await push.send(p, { notification: { event_id: event.eventId, room_id: event.roomId, type: event.type, ...(sender ? { sender } : {}), content: event.content, prio: 'high', counts: { unread: 1 }, devices: [{ app_id: p.appId, pushkey: p.pushkey, data, tweaks: t }] } });
    }
  }
}

// ---- answers: rulesets and rules as the client sees them ----

const isRulesetGet = (req: ProxyRequest): 'all' | 'global' | undefined => (req.method !== 'GET' ? undefined : req.path === PREFIX ? 'all' : req.path === `${PREFIX}global/` ? 'global' : undefined);

/** Rewrites every ruleset a GET answers (GET /pushrules/ and GET /pushrules/global/) with `fn`. */
const rewriteRulesets = (fn: (ruleset: Json, token: string, state: Map<string, unknown>) => Json): Mutation['onResponse'] => (req, res, state) => {
  const which = isRulesetGet(req);
  const answer = parse(res.body);
  if (!which || res.status !== 200 || !isObject(answer) || !req.token) return undefined;
  if (which === 'global') return json(200, fn(answer, req.token, state));
  return isObject(answer['global']) ? json(200, { ...answer, global: fn(answer['global'], req.token, state) }) : undefined;
};
/** Applies `fn` to every rule of every kind of a ruleset; undefined drops the rule. */
const eachRule = (ruleset: Json, fn: (rule: Json, kind: string) => Json | undefined): Json =>
  Object.fromEntries(Object.entries(ruleset).map(([kind, rules]) => [kind, Array.isArray(rules) && KINDS.includes(kind) ? rules.map((r: unknown) => (isObject(r) ? fn(r, kind) : r)).filter((r) => r !== undefined) : rules]));
const withoutDefault = (id: string): Mutation['onResponse'] => rewriteRulesets((rs) => eachRule(rs, (r) => (r['rule_id'] === id ? undefined : r)));
const withRule = (kind: string, rule: Json): Mutation['onResponse'] => rewriteRulesets((rs) => ({ ...rs, [kind]: [...(Array.isArray(rs[kind]) ? rs[kind] : []), rule] }));

/** A user rule as the client sent it: pattern and conditions put back where a mutation rewrote them on the way in. */
const restoreSent = (rs: Json, token: string, state: Map<string, unknown>): Json =>
  eachRule(rs, (r, kind) => {
    const mine = rulesOf(state, token).get(ruleKey(kind, String(r['rule_id'])));
    if (!mine || r['default'] === true) return r;
    const { pattern, conditions } = mine.sent;
    return { ...r, ...(pattern !== undefined ? { pattern } : {}), ...(conditions !== undefined ? { conditions } : {}) };
  });
/** GET answers show the rules as sent, whatever the mutation changed in what it stored. */
const answersAsSent: Part = {
  onResponse: async (req, res, state, push) => {
    const sets = await rewriteRulesets(restoreSent)?.(req, res, state, push);
    if (sets) return sets;
    const p = req.method === 'GET' ? rulePath(req) : undefined;
    const answer = parse(res.body);
    if (!p || p.attr !== undefined || res.status !== 200 || !isObject(answer) || !req.token) return undefined;
    const restored = restoreSent({ [p.kind]: [answer] }, req.token, state)[p.kind];
    return Array.isArray(restored) ? json(200, restored[0]) : undefined;
  },
};

/** Rewrites what a PUT of a rule stores (its pattern, its conditions, its actions); answers show what was sent. */
const rewriteStored = (fn: (b: Json, p: RulePath) => Json | undefined): Part[] => [
  {
    onRequest: (req) => {
      const p = isRulePut(req);
      const next = p ? fn({ ...body(req) }, p) : undefined;
      return next ? withJson(req, next) : undefined;
    },
  },
  answersAsSent,
];
/** Every pattern of a rule (a content rule's, and those of event_match conditions) rewritten by `fn(pattern, key)`. */
const rewritePatterns = (fn: (pattern: string, key: string) => string): Part[] =>
  rewriteStored((b) => {
    let changed = false;
    const out = { ...b };
    if (typeof b['pattern'] === 'string') {
      out['pattern'] = fn(b['pattern'], 'content.body');
      changed = out['pattern'] !== b['pattern'];
    }
    if (Array.isArray(b['conditions'])) {
      out['conditions'] = b['conditions'].map((c: unknown) => {
        if (!isObject(c) || c['kind'] !== 'event_match' || typeof c['pattern'] !== 'string') return c;
        const pattern = fn(c['pattern'], String(c['key']));
        changed ||= pattern !== c['pattern'];
        return { ...c, pattern };
      });
    }
    return changed ? out : undefined;
  });
const rewriteActions = (fn: (actions: unknown[]) => unknown[]): Part[] =>
  rewriteStored((b) => (Array.isArray(b['actions']) ? { ...b, actions: fn(b['actions']) } : undefined));

/**
 * Rule attributes (`enabled`) set through the API are answered and shown, but
 * never reach the server: what it does is unchanged. For the rules `which`
 * names.
 */
const enabledNotApplied = (which: (p: RulePath, req: ProxyRequest, state: Map<string, unknown>) => boolean): Part => {
  const fake = (state: Map<string, unknown>): Map<string, boolean> => {
    const m = (state.get('fake-enabled') as Map<string, boolean> | undefined) ?? new Map<string, boolean>();
    state.set('fake-enabled', m);
    return m;
  };
  const key = (token: string, kind: string, id: string): string => `${token}\n${kind}\n${id}`;
  return {
    onRequest: (req, state) => {
      const p = rulePath(req);
      if (!p || !req.token || !which(p, req, state)) return undefined;
      const k = key(req.token, p.kind, p.id);
      if (req.method === 'PUT' && p.attr === 'enabled' && typeof body(req)['enabled'] === 'boolean') {
        fake(state).set(k, body(req)['enabled'] as boolean);
        return json(200, {});
      }
      const faked = fake(state).get(k);
      if (req.method === 'GET' && p.attr === 'enabled' && faked !== undefined) return json(200, { enabled: faked });
      if (req.method === 'DELETE' && p.attr === undefined) fake(state).delete(k);
      return undefined;
    },
    onResponse: async (req, res, state, push) => {
      const f = fake(state);
      const shown = (r: Json, kind: string): Json => {
        const faked = req.token ? f.get(key(req.token, kind, String(r['rule_id']))) : undefined;
        return faked === undefined ? r : { ...r, enabled: faked };
      };
      const sets = await rewriteRulesets((rs) => eachRule(rs, shown))?.(req, res, state, push);
      if (sets) return sets;
      const p = req.method === 'GET' ? rulePath(req) : undefined;
      const answer = parse(res.body);
      return p && p.attr === undefined && res.status === 200 && isObject(answer) ? json(200, shown(answer, p.kind)) : undefined;
    },
  };
};

// ---- delivery: what reaches the gateway ----

const notificationOf = (call: PushCall): Json => (isObject(call.body['notification']) ? call.body['notification'] : {});
/** The notification with the tweaks of every device rewritten by `fn`. */
const withTweaks = (call: PushCall, fn: (tweaks: Json) => Json): Json => {
  const n = notificationOf(call);
  const devices = Array.isArray(n['devices']) ? n['devices'].map((d: unknown) => (isObject(d) ? { ...d, tweaks: fn(isObject(d['tweaks']) ? d['tweaks'] : {}) } : d)) : n['devices'];
  return { ...call.body, notification: { ...n, devices } };
};
/** The event a notification of the full format describes (the cases' pushers are of that format). */
const describedEvent = (call: PushCall): SentEvent | undefined => {
  const n = notificationOf(call);
  return typeof n['event_id'] === 'string' && typeof n['room_id'] === 'string' && typeof n['type'] === 'string' ? { eventId: n['event_id'], roomId: n['room_id'], type: n['type'], content: isObject(n['content']) ? n['content'] : {}, token: '' } : undefined;
};
/** Rewrites the tweaks of notifications about events, knowing the event and its recipient's rules. */
const tweaksOf = (fn: (tweaks: Json, event: SentEvent, rules: UserRule[]) => Json): Part => ({
  delivery: true,
  onPush: (call, state) => {
    const event = describedEvent(call);
    const token = call.pushers[0]?.token;
    if (!event || !token) return undefined;
    return call.forward(withTweaks(call, (t) => fn(t, event, [...rulesOf(state, token).values()])));
  },
});
const soundOf = (r: UserRule): unknown => (Array.isArray(r.sent['actions']) ? r.sent['actions'].find((a: unknown) => isObject(a) && a['set_tweak'] === 'sound') : undefined);
const tweaksOfRule = (r: UserRule): Json => {
  const s = soundOf(r);
  return isObject(s) ? { sound: s['value'] } : {};
};
const hasNotify = (r: UserRule): boolean => Array.isArray(r.sent['actions']) && r.sent['actions'].includes('notify');

/** The value at a dot-separated path (`\.` a dot inside a name), as the spec's appendix reads it. */
function valueAt(event: Json, path: string): unknown {
  const names = path.split(/(?<!\\)\./).map((n) => n.replace(/\\\./g, '.').replace(/\\\\/g, '\\'));
  let cur: unknown = event;
  for (const n of names) cur = isObject(cur) && Object.hasOwn(cur, n) ? cur[n] : undefined;
  return cur;
}
const eventJson = (e: SentEvent): Json => ({ type: e.type, room_id: e.roomId, content: e.content });
/** The user's override rules whose one condition is of this kind, with the condition. */
const conditionRules = (rules: UserRule[], kind: string): Array<{ rule: UserRule; condition: Json }> =>
  rules.flatMap((rule) => {
    const c = Array.isArray(rule.sent['conditions']) ? rule.sent['conditions'][0] : undefined;
    return rule.kind === 'override' && rule.enabled && isObject(c) && c['kind'] === kind ? [{ rule, condition: c }] : [];
  });
const plainPattern = (r: UserRule): string | undefined => (r.kind === 'content' && r.enabled && typeof r.sent['pattern'] === 'string' && !/[*?]/.test(r.sent['pattern']) ? r.sent['pattern'] : undefined);
const bodyOf = (e: SentEvent): string => (typeof e.content['body'] === 'string' ? e.content['body'] : '');

// ---- case lists ----

const r = (...ids: string[]): string[] => ids.map((id) => `v1.rules.${id}`);

/**
 * The push rules cases whose notifications are the effect of a server-default
 * rule under test, not of the defaults every message has: a server that never
 * notifies fails them on that rule, not on v1.push.poked.
 */
export const RULES_ARRIVAL_REQUIREMENTS = r('unknown-condition', 'historical-actions', 'invite-for-me', 'call', 'coalesce');

/** Every push rules case that needs the mock gateway and runs at the newest version (two hold only before v1.7). */
export const RULES_DELIVERY_CASES = r(
  'push-after', 'push-before', 'push-before-and-after', 'push-body-words', 'push-call', 'push-content-no-notify', 'push-disabled-rule',
  'push-event-property-contains', 'push-event-property-is', 'push-glob-case', 'push-glob-literal', 'push-glob-question', 'push-glob-star', 'push-historical-actions', 'push-invite',
  'push-kind-order', 'push-master', 'push-master-above-user', 'push-new-rule-first', 'push-notices', 'push-one-to-one', 'push-override-no-notify', 'push-room-member-count',
  'push-room-mention', 'push-room-no-notify', 'push-sender-no-notify', 'push-suppress-edits', 'push-tweaks', 'push-unknown-condition', 'push-user-mention', 'push-whole-value',
);
/** The one of them that waits for any notification, not one about an event it names (an invite's id is not known). */
export const RULES_ANY_EVENT_CASES = r('push-invite');

/** combine() of mutations.ts, with the parts' onPush (the first that answers wins), delivery and versions too. */
function join(name: string, ...parts: Part[]): Mutation {
  const pushing = parts.filter((p) => p.onPush);
  return {
    ...combine(name, ...parts),
    ...(parts.some((p) => p.delivery) ? { delivery: true } : {}),
    ...parts.reduce<Part>((v, p) => (p.versions ? { versions: p.versions } : v), {}),
    ...(pushing.length
      ? {
          async onPush(call: PushCall, state: Map<string, unknown>, push: PushApi) {
            for (const p of pushing) {
              const answer = await p.onPush?.(call, state, push);
              if (answer) return answer;
            }
            return undefined;
          },
        }
      : {}),
  };
}
const broken = (b: Omit<Broken, 'onRequest' | 'onResponse' | 'onPush'> & { parts: Part[] }): Broken => {
  const { parts, ...rest } = b;
  return { ...join(rest.name, remember, ...parts), ...rest };
};
/** A server of an older version: the reference server advertises and follows it. */
const older = (version: string): Part => ({ versions: versionsUpTo(version), delivery: true });
const ignored = (req: ProxyRequest): ProxyResponse | undefined => (isRulePut(req) ? json(200, {}) : undefined);
const strip = (param: string, when: (q: URLSearchParams, req: ProxyRequest, state: Map<string, unknown>) => boolean = () => true): Part => ({
  onRequest: (req, state) => {
    const q = queryOf(req);
    if (!isRulePut(req) || !q.has(param) || !when(q, req, state)) return undefined;
    q.delete(param);
    return withQuery(req, q);
  },
});

export const BROKEN_RULES: Broken[] = [
  // ---- authentication ----
  broken({ name: 'push rules: no token answers 401 M_UNKNOWN_TOKEN', violates: 'v1.rules.auth-missing-token', fails: r('auth-no-token'), parts: [{ onRequest: (req) => (req.path.startsWith(PREFIX) && !req.token ? json(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown token' }) : undefined) }] }),
  broken({ name: 'push rules: an unknown token answers 403 M_FORBIDDEN', violates: 'v1.rules.auth-unknown-token', fails: r('auth-unknown-token'), parts: [{ onResponse: (req, res) => (req.path.startsWith(PREFIX) && res.status === 401 && /M_UNKNOWN_TOKEN/.test(res.body) ? json(403, { errcode: 'M_FORBIDDEN', error: 'no' }) : undefined) }] }),
  // ---- reading ----
  broken({ name: 'push rules: GET /pushrules/ lists a rule without default, enabled or actions', violates: 'v1.rules.get-ruleset', fails: r('get-ruleset'), parts: [{ onResponse: (req, res, state, push) => (isRulesetGet(req) === 'all' ? withRule('override', { rule_id: '.org.example.half' })?.(req, res, state, push) : undefined) }] }),
  broken({ name: 'push rules: GET /pushrules/global/ is not served (404 M_UNRECOGNIZED)', violates: 'v1.rules.get-global', fails: r('get-global'), parts: [{ onRequest: (req) => (isRulesetGet(req) === 'global' ? json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }) : undefined) }] }),
  broken({
    name: 'push rules: GET of one content rule leaves out its pattern',
    violates: 'v1.rules.get-rule',
    fails: r('put-content-rule'),
    parts: [{ onResponse: (req, res) => {
      const p = req.method === 'GET' ? rulePath(req) : undefined;
      const answer = parse(res.body);
      if (!p || p.attr !== undefined || !isObject(answer) || !('pattern' in answer)) return undefined;
      const { pattern: _p, ...rest } = answer;
      return json(res.status, rest);
    } }],
  }),
  broken({ name: 'push rules: GET of a rule the user does not have answers 200 {}', violates: 'v1.rules.get-missing', fails: r('get-missing-rule', 'delete-rule', 'isolation'), alsoCites: r('isolation'), parts: [{ onResponse: (req, res) => (req.method === 'GET' && rulePath(req)?.attr === undefined && res.status === 404 ? json(200, {}) : undefined) }] }),
  broken({ name: 'push rules: 404s carry M_UNKNOWN', violates: 'v1.rules.not-found-errcode', fails: r('get-missing-rule', 'delete-rule', 'delete-missing-rule', 'attributes-of-missing-rule'), parts: [{ onResponse: (req, res) => (rulePath(req) && res.status === 404 ? json(404, { errcode: 'M_UNKNOWN', error: 'no such rule' }) : undefined) }] }),
  // ---- server-default rules ----
  broken({ name: 'push rules: .m.rule.call is missing', violates: 'v1.rules.defaults', fails: r('defaults-base'), parts: [{ onResponse: withoutDefault('.m.rule.call') }] }),
  broken({ name: 'push rules: a v1.16 server without .m.rule.roomnotif', violates: 'v1.rules.defaults-legacy-mentions', fails: r('defaults-legacy-mentions'), parts: [older('v1.16'), { onResponse: withoutDefault('.m.rule.roomnotif') }] }),
  broken({ name: 'push rules: .m.rule.room.server_acl is missing', violates: 'v1.rules.defaults-server-acl', fails: r('defaults-server-acl'), parts: [{ onResponse: withoutDefault('.m.rule.room.server_acl') }] }),
  broken({ name: 'push rules: .m.rule.reaction is missing', violates: 'v1.rules.defaults-mentions', fails: r('defaults-mentions'), parts: [{ onResponse: withoutDefault('.m.rule.reaction') }] }),
  broken({ name: 'push rules: .m.rule.suppress_edits is not listed (it still acts)', violates: 'v1.rules.defaults-suppress-edits', fails: r('defaults-suppress-edits'), parts: [{ onResponse: withoutDefault('.m.rule.suppress_edits') }] }),
  broken({ name: 'push rules: a server-default rule of the server\'s own has an id without a dot', violates: 'v1.rules.default-ids-dotted', fails: r('defaults-base'), parts: [{ onResponse: withRule('override', { rule_id: 'org.example.undotted', default: true, enabled: true, conditions: [{ kind: 'event_match', key: 'type', pattern: 'org.example.never' }], actions: [] }) }] }),
  // ---- creating and changing ----
  broken({
    name: 'push rules: PUT of a room or sender rule answers 200 and stores nothing',
    violates: 'v1.rules.put-create',
    fails: r('put-room-and-sender-rules', 'push-kind-order', 'push-room-no-notify', 'push-sender-no-notify'),
    alsoCites: r('put-enabled', 'kind-order', 'no-notify'),
    delivery: true,
    parts: [{ onRequest: (req) => (['room', 'sender'].includes(isRulePut(req)?.kind ?? '') ? json(200, {}) : undefined) }],
  }),
  broken({
    name: 'push rules: GET of one user rule says it is disabled',
    violates: 'v1.rules.put-enabled',
    fails: r('put-content-rule', 'put-override-rule'),
    parts: [{ onResponse: (req, res) => {
      const p = req.method === 'GET' ? rulePath(req) : undefined;
      const answer = parse(res.body);
      return p && p.attr === undefined && res.status === 200 && isObject(answer) && answer['default'] === false ? json(200, { ...answer, enabled: false }) : undefined;
    } }],
  }),
  broken({ name: 'push rules: PUT of a rule the user has answers 200 and changes nothing', violates: 'v1.rules.put-update', fails: r('put-update'), parts: [{ onRequest: (req, state) => {
    const p = isRulePut(req);
    return p && req.token && rulesOf(state, req.token).has(ruleKey(p.kind, p.id)) ? json(200, {}) : undefined;
  } }] }),
  broken({ name: 'push rules: a rule id names one rule across kinds (a PUT replaces the rule of that id in another kind)', violates: 'v1.rules.id-per-kind', fails: r('same-id-two-kinds'), parts: [{ onRequest: async (req, state, forward) => {
    const p = isRulePut(req);
    if (!p || !req.token) return undefined;
    for (const other of [...rulesOf(state, req.token).values()].filter((x) => x.id === p.id && x.kind !== p.kind)) {
      await forward({ ...req, method: 'DELETE', path: `${PREFIX}global/${other.kind}/${encodeURIComponent(other.id)}`, query: '', body: '', json: undefined });
      rulesOf(state, req.token).delete(ruleKey(other.kind, other.id));
    }
    return undefined;
  } }] }),
  broken({ name: 'push rules: a rule without actions is stored with none', violates: 'v1.rules.put-requires-actions', fails: r('put-without-actions'), parts: rewriteStored((b) => ('actions' in b ? undefined : { ...b, actions: [] })) }),
  broken({ name: 'push rules: actions given as a string are read as a list of one', violates: 'v1.rules.put-field-types', fails: r('put-actions-not-list'), parts: rewriteStored((b) => (typeof b['actions'] === 'string' ? { ...b, actions: [b['actions']] } : undefined)) }),
  broken({ name: 'push rules: a kind other than the five answers 200', violates: 'v1.rules.unknown-kind', fails: r('unknown-kind'), parts: [{ onRequest: (req) => {
    const p = rulePath(req);
    return p && !KINDS.includes(p.kind) ? json(200, req.method === 'GET' ? { rule_id: p.id, default: false, enabled: true, actions: [] } : {}) : undefined;
  } }] }),
  broken({ name: 'push rules: a user rule id starting with a dot is accepted (200, not stored)', violates: 'v1.rules.rule-id-dot', fails: r('rule-id-dot'), parts: [{ onRequest: (req) => (isRulePut(req)?.id.startsWith('.') ? ignored(req) : undefined) }] }),
  broken({ name: 'push rules: a rule id with a slash or backslash is accepted (200, not stored)', violates: 'v1.rules.rule-id-slash', fails: r('rule-id-slash'), parts: [{ onRequest: (req) => (/[/\\]/.test(isRulePut(req)?.id ?? '') || /%2F/i.test(req.path) ? ignored(req) : undefined) }] }),
  broken({ name: 'push rules: before is ignored (the rule goes where a new rule goes)', violates: 'v1.rules.before', fails: r('push-before', 'push-before-and-after', 'relative-to-default-rule'), alsoCites: r('before-and-after', 'relative-to-default'), delivery: true, parts: [strip('before')] }),
  broken({ name: 'push rules: after is ignored (the rule goes where a new rule goes)', violates: 'v1.rules.after', fails: r('push-after', 'push-before', 'push-before-and-after', 'relative-to-default-rule'), alsoCites: r('before', 'before-and-after', 'relative-to-default'), delivery: true, parts: [strip('after')] }),
  broken({ name: 'push rules: with both before and after, the rule is placed by after', violates: 'v1.rules.before-and-after', fails: r('push-before-and-after'), delivery: true, parts: [strip('before', (q) => q.has('after'))] }),
  broken({ name: 'push rules: before or after naming a server-default rule is ignored (the rule is created)', violates: 'v1.rules.relative-to-default', fails: r('relative-to-default-rule'), parts: [strip('before', (q) => q.get('before')?.startsWith('.') === true), strip('after', (q) => q.get('after')?.startsWith('.') === true)] }),
  broken({
    name: 'push rules: before naming a rule the user does not have is ignored (the rule is created)',
    violates: 'v1.rules.relative-to-missing',
    fails: r('relative-to-missing-rule'),
    parts: [strip('before', (q, req, state) => !q.get('before')?.startsWith('.') && !rulesOf(state, req.token ?? '').has(ruleKey(isRulePut(req)?.kind ?? '', q.get('before') ?? '')))],
  }),
  broken({ name: 'push rules: a new rule goes after the user\'s other rules of its kind', violates: 'v1.rules.new-rule-first', fails: r('push-new-rule-first'), delivery: true, parts: [lastByDefault()] }),
  // ---- deleting ----
  broken({ name: 'push rules: a deleted rule is still listed (the server deleted it)', violates: 'v1.rules.delete', fails: r('delete-rule'), parts: [ghosts()] }),
  broken({ name: 'push rules: DELETE of a rule the user does not have answers 200', violates: 'v1.rules.delete-missing', fails: r('delete-missing-rule'), parts: [{ onResponse: (req, res) => (req.method === 'DELETE' && rulePath(req) && res.status === 404 ? json(200, {}) : undefined) }] }),
  // ---- enabled and actions ----
  broken({ name: 'push rules: …/enabled of a user rule never switched answers 404', violates: 'v1.rules.enabled-get', fails: r('enabled-round-trip'), parts: [untouched('enabled')] }),
  broken({ name: 'push rules: PUT …/enabled of a user rule answers 200 and changes nothing', violates: 'v1.rules.enabled-set', fails: r('enabled-round-trip', 'push-disabled-rule'), alsoCites: r('disabled'), delivery: true, parts: [{ onRequest: (req, state) => (req.method === 'PUT' && rulePath(req)?.attr === 'enabled' && isOwnRule(state, req) ? json(200, {}) : undefined) }] }),
  broken({ name: 'push rules: …/actions of a rule whose actions were never set that way answers 404', violates: 'v1.rules.actions-get', fails: r('actions-round-trip', 'actions-of-default-rule'), parts: [untouched('actions')] }),
  broken({ name: 'push rules: PUT …/actions of a server-default rule answers 200 and changes nothing', violates: 'v1.rules.actions-set', fails: r('actions-of-default-rule'), parts: [{ onRequest: (req) => (req.method === 'PUT' && rulePath(req)?.attr === 'actions' && rulePath(req)?.id.startsWith('.') ? json(200, {}) : undefined) }] }),
  broken({ name: 'push rules: …/enabled and …/actions of a rule the user does not have answer 200', violates: 'v1.rules.attr-missing', fails: r('attributes-of-missing-rule'), parts: [{ onResponse: (req, res) => {
    const p = rulePath(req);
    if (!p?.attr || res.status !== 404) return undefined;
    return json(200, req.method === 'PUT' ? {} : p.attr === 'enabled' ? { enabled: true } : { actions: [] });
  } }] }),
  // ---- isolation and account data ----
  broken({
    name: 'push rules: the ruleset lists other users\' rules too',
    violates: 'v1.rules.isolation',
    fails: r('isolation'),
    // Whose rules exist at a given moment is timing when cases run at once.
    jobs: 1,
    parts: [{ onResponse: rewriteRulesets((rs, token, state) => {
      const others = [...((state.get('rules') as Rules | undefined) ?? new Map<string, Map<string, UserRule>>()).entries()].filter(([t]) => t !== token).flatMap(([, m]) => [...m.values()]);
      const out = { ...rs };
      for (const o of others) out[o.kind] = [...(Array.isArray(out[o.kind]) ? (out[o.kind] as unknown[]) : []), { ...o.sent, rule_id: o.id, default: false, enabled: o.enabled }];
      return out;
    }) }],
  }),
  broken({ name: 'push rules: m.push_rules is set through the account data API (200)', violates: 'v1.rules.account-data-refused', fails: r('account-data-refused'), parts: [{ onRequest: (req) => (req.method === 'PUT' && /\/account_data\/m\.push_rules$/.test(req.path) ? json(200, {}) : undefined) }] }),
  // ---- delivery ----
  broken({
    name: 'push rules: a sender rule outranks a room rule',
    violates: 'v1.rules.kind-order',
    fails: r('push-kind-order'),
    delivery: true,
    parts: [tweaksOf((t, e, rules) => {
      const room = rules.find((x) => x.kind === 'room' && x.id === e.roomId);
      const sender = rules.find((x) => x.kind === 'sender');
      return room && sender ? { ...t, ...tweaksOfRule(sender) } : t;
    })],
  }),
  broken({ name: 'push rules: a room rule without notify does not stop the push', violates: 'v1.rules.no-notify', fails: r('push-room-no-notify'), delivery: true, parts: [afterSend((e, rules) => (rules.some((x) => x.kind === 'room' && x.id === e.roomId && !hasNotify(x)) ? {} : undefined))] }),
  broken({ name: 'push rules: a disabled user rule still matches (the API shows it disabled)', violates: 'v1.rules.disabled', fails: r('push-disabled-rule'), delivery: true, parts: [enabledNotApplied((_p, req, state) => isOwnRule(state, req))] }),
  broken({
    name: 'push rules: no tweaks reach the gateway',
    violates: 'v1.rules.tweaks',
    fails: r('push-kind-order', 'push-before', 'push-after', 'push-before-and-after', 'push-disabled-rule', 'push-tweaks', 'push-master-above-user', 'push-one-to-one', 'push-room-member-count', 'push-invite', 'push-call', 'push-historical-actions', 'push-glob-star', 'push-glob-question', 'push-glob-literal', 'push-glob-case', 'push-body-words', 'push-whole-value', 'push-event-property-is', 'push-event-property-contains', 'push-user-mention', 'push-room-mention'),
    // Those cases read what a rule did from the tweaks it set: without tweaks, no rule shows.
    alsoCites: r('kind-order', 'before', 'after', 'before-and-after', 'disabled', 'tweak-custom', 'master-first', 'one-to-one', 'room-member-count', 'invite-for-me', 'call', 'historical-actions', 'glob-star', 'glob-question', 'glob-literal', 'glob-case', 'body-words', 'whole-value', 'event-property-is', 'event-property-contains', 'user-mention', 'room-mention'),
    delivery: true,
    parts: [{ onPush: (call) => call.forward(withTweaks(call, () => ({}))) }],
  }),
  broken({ name: 'push rules: tweaks the spec does not define are dropped', violates: 'v1.rules.tweak-custom', fails: r('push-tweaks'), delivery: true, parts: [{ onPush: (call) => call.forward(withTweaks(call, (t) => Object.fromEntries(Object.entries(t).filter(([k]) => k === 'sound' || k === 'highlight')))) }] }),
  broken({ name: 'push rules: a highlight tweak without a value is dropped from the rule', violates: 'v1.rules.highlight-no-value', fails: r('push-tweaks'), delivery: true, parts: rewriteActions((a) => a.filter((x) => !(isObject(x) && x['set_tweak'] === 'highlight' && !('value' in x)))) }),
  broken({ name: 'push rules: .m.rule.master is switched through the API but never applied', violates: 'v1.rules.master', fails: r('push-master', 'push-master-above-user'), alsoCites: r('master-first'), delivery: true, parts: [enabledNotApplied((p) => p.id === '.m.rule.master')] }),
  broken({ name: 'push rules: the user\'s override rules outrank .m.rule.master', violates: 'v1.rules.master-first', fails: r('push-master-above-user'), delivery: true, parts: [masterEnabled(), afterSend((_e, rules, masterOn) => {
    const always = rules.find((x) => x.kind === 'override' && x.enabled && Array.isArray(x.sent['conditions']) && x.sent['conditions'].length === 0 && hasNotify(x));
    return masterOn && always ? tweaksOfRule(always) : undefined;
  })] }),
  broken({ name: 'push rules: notices are pushed', violates: 'v1.rules.notices', fails: r('push-notices'), delivery: true, parts: [afterSend((e) => (e.content['msgtype'] === 'm.notice' ? {} : undefined))] }),
  broken({ name: 'push rules: messages in rooms of two get no sound', violates: 'v1.rules.one-to-one', fails: r('push-one-to-one'), delivery: true, parts: [tweaksOf((t, e) => (e.type === 'm.room.message' && !('m.mentions' in e.content) && t['sound'] === 'default' ? Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'sound')) : t))] }),
  broken({ name: 'push rules: room_member_count ">" is read as ">="', violates: 'v1.rules.room-member-count', fails: r('push-room-member-count'), delivery: true, parts: rewriteStored((b) => {
    if (!Array.isArray(b['conditions'])) return undefined;
    const conditions = b['conditions'].map((c: unknown) => (isObject(c) && c['kind'] === 'room_member_count' && typeof c['is'] === 'string' && /^>\d/.test(c['is']) ? { ...c, is: `>=${c['is'].slice(1)}` } : c));
    return JSON.stringify(conditions) === JSON.stringify(b['conditions']) ? undefined : { ...b, conditions };
  }) }),
  broken({ name: 'push rules: invites are not pushed', violates: 'v1.rules.invite-for-me', fails: r('push-invite'), delivery: true, parts: [{ onPush: (call) => (notificationOf(call)['type'] === 'm.room.member' ? ok() : undefined) }] }),
  broken({ name: 'push rules: call invites ring with no sound', violates: 'v1.rules.call', fails: r('push-call'), delivery: true, parts: [{ onPush: (call) => call.forward(withTweaks(call, (t) => (t['sound'] === 'ring' ? Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'sound')) : t))) }] }),
  broken({ name: 'push rules: conditions of unknown kinds are dropped (the rule then always matches)', violates: 'v1.rules.unknown-condition', fails: r('push-unknown-condition'), delivery: true, parts: rewriteStored((b) => {
    const known = ['event_match', 'event_property_is', 'event_property_contains', 'contains_display_name', 'room_member_count', 'sender_notification_permission'];
    return Array.isArray(b['conditions']) && b['conditions'].some((c: unknown) => isObject(c) && !known.includes(String(c['kind']))) ? { ...b, conditions: b['conditions'].filter((c: unknown) => isObject(c) && known.includes(String(c['kind']))) } : undefined;
  }) }),
  broken({ name: 'push rules: a v1.6 server where dont_notify notifies', violates: 'v1.rules.dont-notify', fails: r('push-dont-notify'), delivery: true, parts: [older('v1.6'), ...rewriteActions((a) => a.map((x) => (x === 'dont_notify' ? 'notify' : x)))] }),
  broken({ name: 'push rules: coalesce is read as notify after v1.11', violates: 'v1.rules.historical-actions', fails: r('push-historical-actions'), delivery: true, parts: rewriteActions((a) => a.map((x) => (x === 'coalesce' ? 'notify' : x))) }),
  broken({ name: 'push rules: * matches one character or more, never none', violates: 'v1.rules.glob-star', fails: r('push-glob-star'), delivery: true, parts: rewritePatterns((p) => p.replace(/\*/g, '?*')) }),
  broken({ name: 'push rules: ? matches any number of characters', violates: 'v1.rules.glob-question', fails: r('push-glob-question'), delivery: true, parts: rewritePatterns((p) => p.replace(/\?/g, '*')) }),
  broken({
    name: 'push rules: a pattern is read as a regular expression (. any character, + and ? repeats)',
    violates: 'v1.rules.glob-literal',
    fails: r('push-glob-literal', 'push-glob-question'),
    alsoCites: r('glob-question'),
    delivery: true,
    // The reference server matches globs: the expression becomes the glob that matches what it matches on the cases' words.
    parts: rewritePatterns((p) => [...p].map((c) => ({ '.': '?', '+': '*', '?': '*' })[c] ?? c).join('')),
  }),
  broken({ name: 'push rules: content rules match case-sensitively', violates: 'v1.rules.glob-case', fails: r('push-glob-case'), delivery: true, parts: [tweaksOf((t, e, rules) => {
    const hit = rules.find((x) => plainPattern(x) !== undefined && t['sound'] === tweaksOfRule(x)['sound'] && bodyOf(e).toLowerCase().includes((plainPattern(x) as string).toLowerCase()));
    return hit && !bodyOf(e).includes(plainPattern(hit) as string) ? { ...t, sound: 'default' } : t;
  })] }),
  broken({ name: 'push rules: content rules match inside words', violates: 'v1.rules.body-words', fails: r('push-body-words'), delivery: true, parts: [tweaksOf((t, e, rules) => {
    const inside = rules.find((x) => {
      const p = plainPattern(x)?.toLowerCase();
      const b = bodyOf(e).toLowerCase();
      return p !== undefined && b.includes(p) && !new RegExp(`(^|[^a-z0-9_])${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^a-z0-9_])`).test(b);
    });
    return inside ? { ...t, ...tweaksOfRule(inside) } : t;
  })] }),
  broken({ name: 'push rules: patterns on other keys than content.body match inside the value', violates: 'v1.rules.whole-value', fails: r('push-whole-value'), delivery: true, parts: rewritePatterns((p, key) => (key === 'content.body' || p === '*' ? p : `*${p}*`)) }),
  broken({ name: 'push rules: event_property_is compares values as strings', violates: 'v1.rules.event-property-is', fails: r('push-event-property-is'), delivery: true, parts: [tweaksOf((t, e, rules) => {
    const hit = conditionRules(rules, 'event_property_is').find(({ condition }) => {
      const v = valueAt(eventJson(e), String(condition['key']));
      return v !== condition['value'] && v !== undefined && String(v) === String(condition['value']);
    });
    return hit ? { ...t, ...tweaksOfRule(hit.rule) } : t;
  })] }),
  broken({ name: 'push rules: event_property_contains takes an item containing the value as holding it', violates: 'v1.rules.event-property-contains', fails: r('push-event-property-contains'), delivery: true, parts: [tweaksOf((t, e, rules) => {
    const hit = conditionRules(rules, 'event_property_contains').find(({ condition }) => {
      const v = valueAt(eventJson(e), String(condition['key']));
      return Array.isArray(v) && !v.includes(condition['value']) && v.some((x) => typeof x === 'string' && x.includes(String(condition['value'])));
    });
    return hit ? { ...t, ...tweaksOfRule(hit.rule) } : t;
  })] }),
  broken({ name: 'push rules: mentions of the user are not highlighted', violates: 'v1.rules.user-mention', fails: r('push-user-mention'), delivery: true, parts: [tweaksOf((t, e) => (isObject(e.content['m.mentions']) && Array.isArray(e.content['m.mentions']['user_ids']) ? Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'highlight')) : t))] }),
  broken({ name: 'push rules: @room mentions are highlighted whoever sends them', violates: 'v1.rules.room-mention', fails: r('push-room-mention'), delivery: true, parts: [tweaksOf((t, e) => (isObject(e.content['m.mentions']) && e.content['m.mentions']['room'] === true ? { ...t, highlight: true } : t))] }),
  broken({ name: 'push rules: edits are pushed', violates: 'v1.rules.suppress-edits', fails: r('push-suppress-edits'), delivery: true, parts: [afterSend((e) => (isObject(e.content['m.relates_to']) && e.content['m.relates_to']['rel_type'] === 'm.replace' ? {} : undefined))] }),
];

/** After each event sent, the other members for whom `tweaks` gives tweaks are notified of it (a notification the reference server did not send). */
function afterSend(tweaks: (event: SentEvent, rules: UserRule[], masterOn: boolean) => Json | undefined): Part {
  return {
    onResponse: async (req, res, state, push) => {
      const e = lastEvent(state, req, res);
      if (e) await notifyOthers(push, state, e, (token) => tweaks(e, [...rulesOf(state, token).values()], (state.get('master-on') as Set<string> | undefined)?.has(token) === true));
      return undefined;
    },
  };
}
/** Remembers who has .m.rule.master enabled (set through the API, and applied). */
function masterEnabled(): Part {
  return {
    onResponse: (req, res, state) => {
      const p = rulePath(req);
      if (req.method !== 'PUT' || p?.attr !== 'enabled' || p.id !== '.m.rule.master' || res.status !== 200 || !req.token) return undefined;
      const on = (state.get('master-on') as Set<string> | undefined) ?? new Set<string>();
      state.set('master-on', on);
      if (body(req)['enabled'] === true) on.add(req.token);
      else on.delete(req.token);
      return undefined;
    },
  };
}
/** A new rule (no before or after) goes after the user's last rule of its kind. */
function lastByDefault(): Part {
  return {
    onRequest: async (req, state, forward) => {
      const p = isRulePut(req);
      const q = queryOf(req);
      if (!p || !req.token || q.has('before') || q.has('after') || rulesOf(state, req.token).has(ruleKey(p.kind, p.id))) return undefined;
      const answer = parse((await forward({ ...req, method: 'GET', path: PREFIX, query: '', body: '', json: undefined })).body);
      const list = isObject(answer) && isObject(answer['global']) && Array.isArray(answer['global'][p.kind]) ? (answer['global'][p.kind] as unknown[]) : [];
      const last = list.filter((x): x is Json => isObject(x) && x['default'] === false).at(-1);
      if (!last) return undefined;
      q.set('after', String(last['rule_id']));
      return withQuery(req, q);
    },
  };
}
/** Rules deleted (and gone from the server) are still listed to their owner. */
function ghosts(): Part {
  return {
    onRequest: (req, state) => {
      const p = req.method === 'DELETE' ? rulePath(req) : undefined;
      const mine = p && p.attr === undefined && req.token ? rulesOf(state, req.token).get(ruleKey(p.kind, p.id)) : undefined;
      if (mine) state.set(`ghost ${req.token ?? ''}`, [...((state.get(`ghost ${req.token ?? ''}`) as UserRule[] | undefined) ?? []), mine]);
      return undefined;
    },
    onResponse: rewriteRulesets((rs, token, state) => {
      const out = { ...rs };
      for (const g of (state.get(`ghost ${token}`) as UserRule[] | undefined) ?? []) out[g.kind] = [...(Array.isArray(out[g.kind]) ? (out[g.kind] as unknown[]) : []), { ...g.sent, rule_id: g.id, default: false, enabled: g.enabled }];
      return out;
    }),
  };
}
/** GET of …/enabled or …/actions answers 404 for a rule whose attribute was never set through that endpoint (user rules only for enabled). */
function untouched(attr: 'enabled' | 'actions'): Part {
  return {
    onRequest: (req, state) => {
      const p = rulePath(req);
      if (p?.attr !== attr || !req.token) return undefined;
      const set = (state.get(`set ${attr}`) as Set<string> | undefined) ?? new Set<string>();
      state.set(`set ${attr}`, set);
      const k = `${req.token}\n${p.kind}\n${p.id}`;
      if (req.method === 'PUT') set.add(k);
      else if (req.method === 'GET' && !set.has(k) && (attr === 'actions' || !p.id.startsWith('.'))) return json(404, { errcode: 'M_NOT_FOUND', error: 'no such rule' });
      return undefined;
    },
  };
}

/** Correct servers are judged on what they deliver too. */
const WITH_DELIVERY: Part = { delivery: true };
const SYNAPSE_EXTRA = { rule_id: '.org.matrix.msc3930.rule.poll_response', default: true, enabled: true, conditions: [{ kind: 'event_match', key: 'type', pattern: 'org.matrix.msc3381.poll.response' }], actions: [] };

/** Correct servers that differ from the reference server where the spec lets them: they must pass with --strict. */
export const ALLOWED_RULES: Mutation[] = [
  join(
    'push rules: server-default rules written as Synapse writes them (conditions in another order, highlight false, tweaks reordered, rules of its own)',
    remember,
    WITH_DELIVERY,
    {
      onResponse: rewriteRulesets((rs) => {
        const out = eachRule(rs, (rule) => {
          if (rule['default'] !== true) return rule;
          const actions = Array.isArray(rule['actions']) ? [...rule['actions']].reverse() : rule['actions'];
          const quiet = Array.isArray(actions) && actions.includes('notify') && !actions.some((a) => isObject(a) && a['set_tweak'] === 'highlight');
          return { ...rule, ...(Array.isArray(rule['conditions']) ? { conditions: [...rule['conditions']].reverse() } : {}), actions: quiet ? [...(actions as unknown[]), { set_tweak: 'highlight', value: false }] : actions };
        });
        return { ...out, override: [...(Array.isArray(out['override']) ? out['override'] : []), SYNAPSE_EXTRA] };
      }),
    },
  ),
  join('push rules: server-default rules without actions listed with ["dont_notify"] (as before v1.7)', remember, WITH_DELIVERY, { onResponse: rewriteRulesets((rs) => eachRule(rs, (rule) => (rule['default'] === true && Array.isArray(rule['actions']) && rule['actions'].length === 0 ? { ...rule, actions: ['dont_notify'] } : rule))) }),
  {
    ...join(
      'push rules: Dendrite\'s answers (404 for before/after naming a server-default rule, unknown condition kinds refused, 404 for an unknown kind or a slash in a rule id, .m.rule.master listed without conditions)',
      remember,
      WITH_DELIVERY,
      {
        onResponse: rewriteRulesets((rs) => eachRule(rs, (rule) => (rule['rule_id'] === '.m.rule.master' ? Object.fromEntries(Object.entries(rule).filter(([k]) => k !== 'conditions')) : rule))),
        onRequest: (req) => {
          const p = rulePath(req);
          const q = queryOf(req);
          if (p && !KINDS.includes(p.kind)) return json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
          if (p && /%2F/i.test(req.path)) return json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
          if (!isRulePut(req)) return undefined;
          if ([q.get('before'), q.get('after')].some((x) => x?.startsWith('.'))) return json(404, { errcode: 'M_NOT_FOUND', error: 'before: rule ID must not be a default rule' });
          const conditions = body(req)['conditions'];
          const known = ['event_match', 'contains_display_name', 'room_member_count', 'sender_notification_permission', 'event_property_is', 'event_property_contains'];
          return Array.isArray(conditions) && conditions.some((c: unknown) => isObject(c) && !known.includes(String(c['kind']))) ? json(400, { errcode: 'M_INVALID_ARGUMENT_VALUE', error: 'invalid rule condition kind' }) : undefined;
        },
      },
    ),
    // Refusing an unknown condition kind is allowed; the case that needs such a rule is then not judged.
    notJudged: ['v1.rules.push-unknown-condition'],
  },
  join('push rules: notifications carry extra tweaks (highlight false, a tweak of the server\'s own)', remember, { delivery: true, onPush: (call) => call.forward(withTweaks(call, (t) => ({ highlight: false, 'org.example.server': 1, ...t }))) }),
  join('push rules: badge updates (counts alone) while .m.rule.master is enabled', remember, masterEnabled(), {
    delivery: true,
    onResponse: async (req, res, state, push) => {
      const e = lastEvent(state, req, res);
      const on = state.get('master-on') as Set<string> | undefined;
      for (const token of e ? membersOf(state, e.roomId).filter((t) => on?.has(t)) : []) for (const p of push.pushersOf(token)) await push.send(p, { notification: { id: '', type: null, sender: '', counts: { unread: 1 }, devices: [{ app_id: p.appId, pushkey: p.pushkey }] } });
      return undefined;
    },
  }),
  join('push rules: a v1.6 server (coalesce notifies, dont_notify stops a notification, no mention rules)', remember, older('v1.6')),
  join('push rules: a v1.11 server that adds new rules last (the "most important" placement is a SHOULD from v1.12)', remember, older('v1.11'), lastByDefault()),
  // Push rules written apart from the reference server's (support/independent-pushrules.ts), choosing differently wherever the spec allows, at the versions where choices differ.
  independent('v1.17', {}),
  { ...independent('v1.17', { refuseUnknownConditions: true, moveOnUpdate: true, enableOnUpdate: true, legacyAt17: true }), notJudged: ['v1.rules.push-unknown-condition'] },
  independent('v1.12', { deprecated: 'keep' }),
  independent('v1.6', {}),
  independent('v1.4', {}),
  independent('v1.2', {}),
];

/** Correct servers that do not follow a SHOULD of push rules: the default run passes, --strict fails exactly these cases. */
export const ALLOWED_RULES_AT_MUST: AllowedAtMust[] = [
  // In v1.7-v1.11 deprecated actions "should" be ignored, not rejected: a lower-case should, judged at SHOULD.
  {
    ...join('push rules: a v1.11 server that refuses dont_notify and coalesce (a lower-case should there)', remember, older('v1.11'), { onRequest: (req) => (isRulePut(req) && Array.isArray(body(req)['actions']) && (body(req)['actions'] as unknown[]).some((a) => a === 'dont_notify' || a === 'coalesce') ? json(400, { errcode: 'M_INVALID_PARAM', error: 'unknown action' }) : undefined) }),
    skips: ['v1.rules.deprecated-ignored'],
    failsStrict: r('push-deprecated-ignored'),
  },
  { ...independent('v1.11', { deprecated: 'refuse' }), skips: ['v1.rules.deprecated-ignored'], failsStrict: r('push-deprecated-ignored') },
  { ...independent('v1.7', { deprecated: 'keep' }), skips: ['v1.rules.deprecated-ignored'], failsStrict: r('push-deprecated-ignored') },
  {
    ...join('push rules: the ruleset lists a kind\'s user rules least important first', remember, WITH_DELIVERY, { onResponse: rewriteRulesets((rs) => Object.fromEntries(Object.entries(rs).map(([k, v]) => [k, Array.isArray(v) ? [...v.filter((x) => isObject(x) && x['default'] === false).reverse(), ...v.filter((x) => !(isObject(x) && x['default'] === false))] : v]))) }),
    skips: ['v1.rules.list-order'],
    failsStrict: r('push-before'),
  },
  {
    ...join('push rules: a v1.6 server that ignores coalesce (no notification)', remember, older('v1.6'), ...rewriteActions((a) => a.filter((x) => x !== 'coalesce'))),
    skips: ['v1.rules.coalesce'],
    failsStrict: r('push-coalesce'),
  },
  {
    ...independent('v1.17', { newRulesLast: true }),
    skips: ['v1.rules.new-rule-first'],
    failsStrict: r('push-new-rule-first'),
  },
];

/** The independent push rules module at a version, with the reference server for everything else. */
function independent(version: string, options: IndependentOptions): Mutation {
  const chosen = Object.keys(options).length > 0 ? ` (${JSON.stringify(options)})` : '';
  return { name: `push rules: an implementation written apart from the reference server's, at ${version}${chosen}`, delivery: true, versions: versionsUpTo(version), pushRulesModule: independentPushRules(options) };
}
