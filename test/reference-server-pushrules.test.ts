import { once } from 'node:events';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createServer, type ReferenceServerOptions, type RunningServer } from '../reference-server/index.js';
import { conditionMatches, memberCountIs, splitPath, type ConditionInput } from '../reference-server/pushrules/conditions.js';
import { defaultRules } from '../reference-server/pushrules/defaults.js';
import { evaluate, readActions, tweaksJson } from '../reference-server/pushrules/evaluate.js';
import { compileGlob, containsWords } from '../reference-server/pushrules/glob.js';
import { PUSH_RULE_OVERHEAD_BYTES, resolvePushRuleLimits } from '../reference-server/pushrules/limits.js';
import { newestV1, semanticsFor } from '../reference-server/pushrules/semantics.js';
import { PushRuleStore } from '../reference-server/pushrules/store.js';
import type { EffectiveRule } from '../reference-server/pushrules/types.js';
import { makeCertificate } from '../src/areas/delivery/gateway/cert.js';

/**
 * The reference server's push rules: the evaluator's parts on their own (globs,
 * word boundaries, conditions, actions, the order of rules, the defaults of each
 * version), the API over HTTP (rules created, replaced, placed, deleted,
 * enabled, their actions; every refusal a Matrix error; users kept apart; caps),
 * and the rules' effect on what reaches a push gateway of the test's own.
 *
 * Absence is proven with a witness, never a sleep: a pusher's notifications are
 * sent in the order their events were sent, so once the gateway has the poke
 * about a later event that notifies, a poke about an earlier one would have come.
 */

const NEWEST = semanticsFor('v1.19');
const V16 = semanticsFor('v1.6');

/** Rows of [pattern, value, expected]: each is checked, and named in the failure. */
type Table = ReadonlyArray<readonly [string, string, boolean]>;

function checkTable(match: (pattern: string, value: string) => boolean, table: Table): void {
  for (const [pattern, value, expected] of table) expect(match(pattern, value), `${JSON.stringify(pattern)} on ${JSON.stringify(value)}`).to.equal(expected);
}

describe('push rules: globs', function () {
  const whole = (pattern: string, value: string): boolean => compileGlob(pattern).matchesWhole(value);
  const words = (pattern: string, value: string): boolean => compileGlob(pattern).matchesWords(value);

  it('matches * as any run (none too) and ? as exactly one character, against the whole value', function () {
    checkTable(whole, [
      ['lunc?*', 'Lunch plans', true], ['lunc?*', 'LUNCH', true], ['lunc?*', ' lunch', false], ['lunc?*', 'lunc', false],
      ['*', '', true], ['', '', true], ['', 'x', false], ['a**b', 'ab', true], ['m.room.message', 'm.room.message.extra', false],
      // A code point is one character: an emoji, made of two UTF-16 units, is one `?`.
      ['?', '🎂', true], ['??', '🎂', false],
    ]);
  });

  it('takes every other character literally: no character classes, no regular-expression syntax', function () {
    checkTable(whole, [
      ['[ab]', 'a', false], ['[ab]', '[ab]', true], ['a.c', 'abc', false], ['a.c', 'a.c', true],
      ['a+', 'aa', false], ['(x|y)', 'x', false], ['^x$', '^x$', true], ['\\d', '1', false],
    ]);
  });

  it('folds ASCII letters only', function () {
    // "Case insensitive" beyond ASCII is the implementation's to define; this one keeps it exact.
    checkTable(whole, [['CAKE', 'cake', true], ['cake', 'CaKe', true], ['é', 'É', false], ['straße', 'STRASSE', false]]);
  });

  it('matches content.body by words: a part that starts and ends at a word boundary', function () {
    checkTable(words, [
      ['ex*ple', 'An example event.', true], ['ex*ple', 'exple', true], ['ex*ple', 'An exciting triple-whammy', true],
      ['cake', 'I like cake!', true], ['cake', 'pancakes', false], ['cake', 'cakes', false], ['cake', 'cake_shop', false],
      ['cake', 'cake-shop', true], ['CAKE', 'Cake', true], ['@room', 'hi @room, look', true], ['@room', 'a@room', false],
      ['two words', 'these two words here', true], ['', 'hello', false],
    ]);
  });

  it('cannot be made to backtrack: many stars against a long run fail in one pass', function () {
    const value = 'a'.repeat(20_000);
    expect(whole('*a*a*a*a*a*a*a*a*a*a*b', value)).to.equal(false);
    expect(words('*a*a*a*a*a*a*a*a*a*a*b', value)).to.equal(false);
    expect(whole('*a*a*a*a*a*a*a*a*a*a*', value)).to.equal(true);
  });

  it('finds a display name as whole words, taken literally', function () {
    checkTable((name, text) => containsWords(text, name), [
      ['alice', 'Hi Alice!', true], ['alice', 'Malice', false], ['A*B', 'ask a*b now', true], ['a*b', 'ask axb now', false], ['', 'anything', false],
    ]);
  });
});

describe('push rules: conditions', function () {
  const input = (event: Record<string, unknown>, extra: Partial<ConditionInput> = {}): ConditionInput => ({
    event: { type: 'm.room.message', sender: '@bob:localhost', room_id: '!r:localhost', event_id: '$e', content: {}, ...event } as ConditionInput['event'],
    memberCount: 3,
    senderLevel: 0,
    notificationLevel: () => 50,
    displayName: undefined,
    ...extra,
  });
  const holds = (condition: Record<string, unknown>, event: Record<string, unknown>, extra: Partial<ConditionInput> = {}): boolean =>
    conditionMatches(condition as ConditionInput['event'], input(event, extra), NEWEST);

  it('splits dot-separated paths, with \\. and \\\\ inside names', function () {
    expect(splitPath('content.body')).to.deep.equal(['content', 'body']);
    expect(splitPath('content.m\\.relates_to.rel_type')).to.deep.equal(['content', 'm.relates_to', 'rel_type']);
    expect(splitPath('content.m\\\\foo')).to.deep.equal(['content', 'm\\foo']);
    expect(splitPath('content.a\\xb')).to.deep.equal(['content', 'a\\xb']);
  });

  it('event_match needs a string property: absent, numbers and null never match, even with *', function () {
    const cond = (key: string, pattern: string) => ({ kind: 'event_match', key, pattern });
    expect(holds(cond('content.topic', '*'), {})).to.equal(false);
    expect(holds(cond('content.topic', '*'), { content: { topic: null } })).to.equal(false);
    expect(holds(cond('content.topic', '*'), { content: { topic: 5 } })).to.equal(false);
    expect(holds(cond('content.topic', '*'), { content: { topic: '' } })).to.equal(true);
    expect(holds(cond('type', 'm.room.*'), {})).to.equal(true);
    expect(holds(cond('content.m\\.relates_to.rel_type', 'm.replace'), { content: { 'm.relates_to': { rel_type: 'm.replace' } } })).to.equal(true);
    // The unescaped path looks for content.m.relates_to, which is not there.
    expect(holds(cond('content.m.relates_to.rel_type', 'm.replace'), { content: { 'm.relates_to': { rel_type: 'm.replace' } } })).to.equal(false);
    expect(holds({ kind: 'event_match', key: 'type' }, {})).to.equal(false);
  });

  it('event_property_is matches exact non-compound values, never across types', function () {
    const is = (value: unknown) => ({ kind: 'event_property_is', key: 'content.v', value });
    const ev = (v: unknown) => ({ content: { v } });
    expect(holds(is(true), ev(true))).to.equal(true);
    expect(holds(is(true), ev('true'))).to.equal(false);
    expect(holds(is(1), ev(1))).to.equal(true);
    expect(holds(is(1), ev('1'))).to.equal(false);
    expect(holds(is(1), ev(true))).to.equal(false);
    expect(holds(is(null), ev(null))).to.equal(true);
    expect(holds(is(null), {})).to.equal(false);
    expect(holds(is('Abc'), ev('abc'))).to.equal(false);
    expect(holds(is(1.5), ev(1.5))).to.equal(false);
    expect(holds(is(2 ** 53), ev(2 ** 53))).to.equal(false);
    expect(holds(is({ a: 1 }), ev({ a: 1 }))).to.equal(false);
    expect(holds(is([1]), ev([1]))).to.equal(false);
    expect(holds({ kind: 'event_property_is', key: 'content.v' }, ev(null))).to.equal(false);
  });

  it('event_property_contains looks for the value among an array’s scalar members', function () {
    const contains = (value: unknown) => ({ kind: 'event_property_contains', key: 'content.list', value });
    expect(holds(contains('@a:x'), { content: { list: ['@b:x', '@a:x'] } })).to.equal(true);
    expect(holds(contains(':x'), { content: { list: ['@a:x'] } })).to.equal(false);
    expect(holds(contains('@a:x'), { content: { list: '@a:x' } })).to.equal(false);
    expect(holds(contains(1), { content: { list: [[1], { v: 1 }, 1] } })).to.equal(true);
    expect(holds(contains(1), { content: { list: [[1], { v: 1 }] } })).to.equal(false);
  });

  it('event_property_is and _contains do not exist before v1.7: there they match nothing', function () {
    const cond = { kind: 'event_property_is', key: 'content.v', value: true };
    expect(conditionMatches(cond, input({ content: { v: true } }), V16)).to.equal(false);
  });

  it('room_member_count compares with ==, <, >, <= and >=, == by default', function () {
    const table: Array<[string, number, boolean]> = [
      ['2', 2, true], ['2', 3, false], ['==2', 2, true], ['<3', 2, true], ['<3', 3, false], ['>2', 3, true], ['>2', 2, false],
      ['<=2', 2, true], ['<=2', 3, false], ['>=3', 3, true], ['>=3', 2, false], ['=2', 2, false], ['two', 2, false], ['', 0, false], ['-1', 0, false], [' 2', 2, false],
    ];
    for (const [is, count, expected] of table) expect(memberCountIs(is, count), `${is} with ${count}`).to.equal(expected);
    expect(holds({ kind: 'room_member_count', is: 3 }, {})).to.equal(false);
  });

  it('contains_display_name, sender_notification_permission, and unknown kinds', function () {
    expect(holds({ kind: 'contains_display_name' }, { content: { body: 'hi Alice' } }, { displayName: 'alice' })).to.equal(true);
    expect(holds({ kind: 'contains_display_name' }, { content: { body: 'hi Alice' } })).to.equal(false);
    expect(holds({ kind: 'sender_notification_permission', key: 'room' }, {}, { senderLevel: 50 })).to.equal(true);
    expect(holds({ kind: 'sender_notification_permission', key: 'room' }, {}, { senderLevel: 49 })).to.equal(false);
    expect(holds({ kind: 'org.example.unknown' }, {})).to.equal(false);
    expect(holds({ kind: 'event_match ', key: 'type', pattern: '*' }, {})).to.equal(false);
  });
});

describe('push rules: actions and order', function () {
  const rule = (kind: EffectiveRule['kind'], ruleId: string, fields: Partial<EffectiveRule>): EffectiveRule => ({ kind, ruleId, isDefault: false, enabled: true, actions: ['notify'], legacyMention: false, ...fields });
  const input: ConditionInput = { event: { type: 'm.room.message', sender: '@bob:localhost', room_id: '!r:localhost', content: { body: 'tea time' } }, memberCount: 3, senderLevel: 0, notificationLevel: () => 50, displayName: undefined };

  it('reads notify and set_tweak; a highlight without a value is true; other actions are ignored', function () {
    const read = readActions(['notify', { set_tweak: 'highlight' }, { set_tweak: 'sound', value: 'bing' }, { set_tweak: 'x', value: { nested: [1] } }, 'org.example.unknown', { other: 1 }], NEWEST);
    expect(read.notify).to.equal(true);
    expect(Object.fromEntries(read.tweaks)).to.deep.equal({ highlight: true, sound: 'bing', x: { nested: [1] } });
    expect(readActions([], NEWEST).notify).to.equal(false);
    expect(readActions('notify', NEWEST).notify).to.equal(false);
  });

  it('ignores dont_notify and coalesce from v1.7; before, coalesce notifies and dont_notify forbids', function () {
    expect(readActions(['coalesce'], NEWEST).notify).to.equal(false);
    expect(readActions(['dont_notify'], NEWEST).notify).to.equal(false);
    expect(readActions(['notify', 'dont_notify'], NEWEST).notify).to.equal(true);
    expect(readActions(['coalesce'], V16).notify).to.equal(true);
    expect(readActions(['notify', 'dont_notify'], V16).notify).to.equal(false);
  });

  it('writes tweaks as a JSON object, even one named __proto__', function () {
    expect(JSON.parse(tweaksJson(new Map<string, number | string>([['__proto__', 1], ['sound', 'a']])))).to.deep.equal(JSON.parse('{"__proto__":1,"sound":"a"}'));
  });

  it('lets the first enabled rule that matches decide, in the order given', function () {
    const rules = [
      rule('override', 'off', { enabled: false, actions: [] }),
      rule('content', 'time', { pattern: 'time', actions: ['notify', { set_tweak: 'sound', value: 'time' }] }),
      rule('content', 'tea', { pattern: 'tea', actions: ['notify', { set_tweak: 'sound', value: 'tea' }] }),
      rule('room', '!r:localhost', { actions: [] }),
    ];
    const outcome = evaluate(rules, input, NEWEST);
    expect(outcome.rule).to.equal('content/time');
    expect(Object.fromEntries(outcome.tweaks)).to.deep.equal({ sound: 'time' });
    expect(evaluate(rules.slice(3), input, NEWEST)).to.include({ rule: 'room/!r:localhost', notify: false });
    expect(evaluate([rule('sender', '@bob:localhost', {})], input, NEWEST).notify).to.equal(true);
    expect(evaluate([rule('sender', '@BOB:localhost', {})], input, NEWEST).rule).to.equal(undefined);
    expect(evaluate([rule('override', 'bad', { conditions: 'nope' })], input, NEWEST).rule).to.equal(undefined);
    expect(evaluate([], input, NEWEST)).to.include({ rule: undefined, notify: false });
  });

  it('from v1.7 skips the legacy mention rules for an event with m.mentions', function () {
    const legacy = rule('content', '.m.rule.contains_user_name', { isDefault: true, legacyMention: true, pattern: 'tea' });
    const withMentions = { ...input, event: { ...input.event, content: { body: 'tea', 'm.mentions': {} } } };
    expect(evaluate([legacy], withMentions, NEWEST).rule).to.equal(undefined);
    expect(evaluate([legacy], withMentions, V16).rule).to.equal('content/.m.rule.contains_user_name');
    expect(evaluate([legacy], input, NEWEST).rule).to.equal('content/.m.rule.contains_user_name');
  });
});

describe('push rules: server-default rules by version', function () {
  const ids = (version: string): string[] => defaultRules('@alice:localhost', semanticsFor(version)).map((r) => `${r.kind}/${r.ruleId}`);

  it('serves at v1.19 every rule v1.17 specifies, and keeps the legacy mention rules', function () {
    const rules = defaultRules('@alice:localhost', NEWEST);
    const byId = new Map(rules.map((r) => [r.ruleId, r]));
    expect(ids('v1.19')).to.include.members([
      'override/.m.rule.master', 'override/.m.rule.suppress_notices', 'override/.m.rule.invite_for_me', 'override/.m.rule.member_event',
      'override/.m.rule.is_user_mention', 'override/.m.rule.is_room_mention', 'override/.m.rule.tombstone', 'override/.m.rule.reaction',
      'override/.m.rule.room.server_acl', 'override/.m.rule.suppress_edits', 'underride/.m.rule.call', 'underride/.m.rule.encrypted_room_one_to_one',
      'underride/.m.rule.room_one_to_one', 'underride/.m.rule.message', 'underride/.m.rule.encrypted',
      'override/.m.rule.contains_display_name', 'override/.m.rule.roomnotif', 'content/.m.rule.contains_user_name',
    ]);
    expect(byId.get('.m.rule.master')?.json).to.deep.equal({ rule_id: '.m.rule.master', default: true, enabled: false, conditions: [], actions: [] });
    expect(byId.get('.m.rule.invite_for_me')?.json.conditions).to.deep.include({ kind: 'event_match', key: 'state_key', pattern: '@alice:localhost' });
    expect(byId.get('.m.rule.is_user_mention')?.json.conditions).to.deep.equal([{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: '@alice:localhost' }]);
    expect(byId.get('.m.rule.contains_user_name')?.json).to.include({ pattern: 'alice' });
    for (const r of rules) expect(r.json.default).to.equal(true);
  });

  it('serves each version the rules it specifies: server_acl from v1.4, mentions and reactions from v1.7, edits from v1.9', function () {
    expect(ids('v1.3')).to.not.include('override/.m.rule.room.server_acl');
    expect(ids('v1.4')).to.include('override/.m.rule.room.server_acl');
    expect(ids('v1.6')).to.not.include.members(['override/.m.rule.is_user_mention']);
    expect(ids('v1.7')).to.include.members(['override/.m.rule.is_user_mention', 'override/.m.rule.is_room_mention', 'override/.m.rule.reaction']);
    expect(ids('v1.8')).to.not.include('override/.m.rule.suppress_edits');
    expect(ids('v1.9')).to.include('override/.m.rule.suppress_edits');
    const master = (version: string) => defaultRules('@a:x', semanticsFor(version)).find((r) => r.ruleId === '.m.rule.master')?.json.actions;
    expect(master('v1.6')).to.deep.equal(['dont_notify']);
    expect(master('v1.7')).to.deep.equal([]);
  });

  it('follows the newest v1 version advertised; a version that is not v1.N is a programming error', function () {
    expect(newestV1(['r0.6.1', 'v1.2', 'v1.10', 'v1.9'])).to.equal('v1.10');
    expect(newestV1(['r0.6.1'])).to.equal(undefined);
    expect(() => semanticsFor('1.5')).to.throw(RangeError);
    expect(() => semanticsFor('v2.0')).to.throw(RangeError);
  });
});

describe('push rules: the store’s accounting', function () {
  it('charges each rule its JSON and the overhead, and gives back exactly that', function () {
    const store = new PushRuleStore(resolvePushRuleLimits({}), NEWEST);
    const user = '@a:localhost';
    expect(store.put(user, 'override', 'one', ',"conditions":[]', '[]', {})).to.equal(undefined);
    const one = Buffer.byteLength(store.ruleJson(user, 'override', 'one') ?? '') + PUSH_RULE_OVERHEAD_BYTES;
    expect(store.storedBytes).to.equal(one);
    expect(store.setActions(user, 'override', 'one', '["notify"]')).to.equal(undefined);
    expect(store.storedBytes).to.equal(one + '"notify"'.length);
    // Changing only `enabled` of a server-default rule, again and again, costs the one record.
    for (const enabled of [true, false, true]) expect(store.setEnabled(user, 'override', '.m.rule.master', enabled)).to.equal(undefined);
    expect(store.storedBytes).to.equal(one + '"notify"'.length + PUSH_RULE_OVERHEAD_BYTES);
    expect(store.setActions(user, 'override', '.m.rule.master', '["notify"]')).to.equal(undefined);
    expect(store.storedBytes).to.equal(one + '"notify"'.length + PUSH_RULE_OVERHEAD_BYTES + '["notify"]'.length);
    expect(store.delete(user, 'override', 'one')).to.equal(undefined);
    expect(store.storedBytes).to.equal(PUSH_RULE_OVERHEAD_BYTES + '["notify"]'.length);
    expect(store.delete(user, 'override', 'one')).to.deep.equal({ code: 'not-found' });
  });

  it('refuses past maxPushRuleBytesPerUser, counting what a replaced rule gives back', function () {
    const store = new PushRuleStore(resolvePushRuleLimits({ maxPushRuleBytesPerUser: 150 }), NEWEST);
    const user = '@a:localhost';
    expect(store.put(user, 'room', '!one:x', '', '[]', {})).to.equal(undefined);
    expect(store.put(user, 'room', '!two:x', '', '[]', {})).to.equal(undefined);
    expect(store.put(user, 'room', '!three:x', '', '[]', {})).to.deep.equal({ code: 'user-bytes-full' });
    expect(store.put(user, 'room', '!two:x', '', '["notify"]', {})).to.equal(undefined);
    expect(store.put('@b:localhost', 'room', '!three:x', '', '[]', {})).to.equal(undefined);
  });
});

// ---- over HTTP ----

interface Reply {
  status: number;
  body: unknown;
}

async function call(server: RunningServer, method: string, path: string, options: { token?: string; json?: unknown; raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const payload = options.raw ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: the assertion that reads it says what was wrong.
  }
  return { status: response.status, body };
}

function okBody(reply: Reply): Record<string, unknown> {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
  return reply.body as Record<string, unknown>;
}

function refused(reply: Reply, status: number, errcode: string): void {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
  expect(reply.body).to.be.an('object').with.property('errcode', errcode);
  expect((reply.body as { error?: unknown }).error).to.be.a('string');
}

interface User {
  userId: string;
  token: string;
}

let users = 0;
async function register(server: RunningServer): Promise<User> {
  users += 1;
  const username = `pr${process.pid}x${users}`;
  const first = await call(server, 'POST', '/_matrix/client/v3/register', { json: { username, password: 'pw' } });
  const session = (first.body as { session: string }).session;
  const done = okBody(await call(server, 'POST', '/_matrix/client/v3/register', { json: { username, password: 'pw', auth: { type: 'm.login.dummy', session } } }));
  return { userId: done.user_id as string, token: done.access_token as string };
}

const RULES = '/_matrix/client/v3/pushrules';
const at = (kind: string, id: string, rest = '', query = ''): string => `${RULES}/global/${kind}/${encodeURIComponent(id)}${rest}${query}`;

describe('push rules API', function () {
  const servers: RunningServer[] = [];
  const start = async (options: ReferenceServerOptions = {}): Promise<RunningServer> => {
    const server = await createServer({ port: 0, host: '127.0.0.1', ...options });
    servers.push(server);
    return server;
  };
  let server: RunningServer;
  let alice: User;
  let bob: User;
  before(async function () {
    server = await start();
    [alice, bob] = [await register(server), await register(server)];
  });
  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
  });

  const put = (user: User, kind: string, id: string, json: unknown, query = '') => call(server, 'PUT', at(kind, id, '', query), { token: user.token, json });
  const ids = async (user: User, kind: string): Promise<string[]> => ((okBody(await call(server, 'GET', `${RULES}/global/`, { token: user.token }))[kind] as Array<{ rule_id: string }>).map((r) => r.rule_id));

  it('answers GET /pushrules/ with the global ruleset, the same under /pushrules/global/ and r0', async function () {
    const all = okBody(await call(server, 'GET', `${RULES}/`, { token: alice.token }));
    expect(Object.keys(all)).to.deep.equal(['global']);
    const global = all.global as Record<string, Array<Record<string, unknown>>>;
    expect(Object.keys(global)).to.have.members(['override', 'content', 'room', 'sender', 'underride']);
    expect(global.override?.[0]).to.deep.equal({ rule_id: '.m.rule.master', default: true, enabled: false, conditions: [], actions: [] });
    expect(global.underride?.map((r) => r.rule_id)).to.deep.equal(['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);
    expect(okBody(await call(server, 'GET', `${RULES}/global/`, { token: alice.token }))).to.deep.equal(global);
    expect(okBody(await call(server, 'GET', '/_matrix/client/r0/pushrules/', { token: alice.token }))).to.deep.equal(all);
    refused(await call(server, 'GET', `${RULES}/`), 401, 'M_MISSING_TOKEN');
    refused(await call(server, 'GET', `${RULES}/global/`, { token: 'nope' }), 401, 'M_UNKNOWN_TOKEN');
  });

  it('creates, reads, replaces and deletes a rule of each kind', async function () {
    const room = '!room:localhost';
    okBody(await put(alice, 'override', 'beer', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }], actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }] }));
    okBody(await put(alice, 'underride', 'bare', { actions: ['notify'] }));
    okBody(await put(alice, 'content', 'cake', { pattern: 'cake*lie', actions: ['notify'] }));
    okBody(await put(alice, 'room', room, { actions: [] }));
    okBody(await put(alice, 'sender', bob.userId, { actions: [] }));
    expect(okBody(await call(server, 'GET', at('override', 'beer'), { token: alice.token }))).to.deep.equal({
      rule_id: 'beer', default: false, enabled: true,
      conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }],
      actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }],
    });
    // No conditions is a rule that always matches, listed with an empty list.
    expect(okBody(await call(server, 'GET', at('underride', 'bare'), { token: alice.token }))).to.deep.equal({ rule_id: 'bare', default: false, enabled: true, conditions: [], actions: ['notify'] });
    expect(okBody(await call(server, 'GET', at('content', 'cake'), { token: alice.token }))).to.deep.equal({ rule_id: 'cake', default: false, enabled: true, pattern: 'cake*lie', actions: ['notify'] });
    expect(okBody(await call(server, 'GET', at('room', room), { token: alice.token }))).to.deep.equal({ rule_id: room, default: false, enabled: true, actions: [] });
    expect(okBody(await call(server, 'GET', `${RULES}/global/`, { token: alice.token })).sender).to.deep.equal([{ rule_id: bob.userId, default: false, enabled: true, actions: [] }]);
    // User rules come before the server's in their kind; master stays first.
    expect((await ids(alice, 'override')).slice(0, 2)).to.deep.equal(['.m.rule.master', 'beer']);
    expect((await ids(alice, 'content'))[0]).to.equal('cake');

    okBody(await put(alice, 'content', 'cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] }));
    expect(okBody(await call(server, 'GET', at('content', 'cake'), { token: alice.token }))).to.include({ pattern: 'cake' });
    for (const [kind, id] of [['override', 'beer'], ['underride', 'bare'], ['content', 'cake'], ['room', room], ['sender', bob.userId]] as const) {
      expect(okBody(await call(server, 'DELETE', at(kind, id), { token: alice.token }))).to.deep.equal({});
      refused(await call(server, 'GET', at(kind, id), { token: alice.token }), 404, 'M_NOT_FOUND');
    }
  });

  it('places rules with before and after (before wins), newest first without them, and keeps a replaced rule in place', async function () {
    for (const id of ['c', 'b', 'a']) okBody(await put(alice, 'room', `!${id}:localhost`, { actions: [] }));
    const order = async (): Promise<string[]> => (await ids(alice, 'room')).map((id) => id.slice(1, 2));
    expect(await order()).to.deep.equal(['a', 'b', 'c']);
    okBody(await put(alice, 'room', '!d:localhost', { actions: [] }, '?after=!b:localhost'));
    expect(await order()).to.deep.equal(['a', 'b', 'd', 'c']);
    okBody(await put(alice, 'room', '!e:localhost', { actions: [] }, '?before=!a:localhost'));
    expect(await order()).to.deep.equal(['e', 'a', 'b', 'd', 'c']);
    okBody(await put(alice, 'room', '!f:localhost', { actions: [] }, '?before=!c:localhost&after=!e:localhost'));
    expect(await order()).to.deep.equal(['e', 'a', 'b', 'd', 'f', 'c']);
    // Moving an existing rule, and replacing one without a placement.
    okBody(await put(alice, 'room', '!e:localhost', { actions: ['notify'] }, '?after=!c:localhost'));
    okBody(await put(alice, 'room', '!b:localhost', { actions: ['notify'] }));
    expect(await order()).to.deep.equal(['a', 'b', 'd', 'f', 'c', 'e']);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) okBody(await call(server, 'DELETE', at('room', `!${id}:localhost`), { token: alice.token }));
  });

  it('refuses what the spec says to refuse, each with a Matrix error', async function () {
    okBody(await put(alice, 'override', 'mine', { actions: [] }));
    refused(await put(alice, 'override', '.m.rule.mine', { actions: [] }), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', '.m.rule.master', { actions: [] }), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', 'a/b', { actions: [] }), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', 'a\\b', { actions: [] }), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', 'new', { actions: [] }, '?before=.m.rule.suppress_notices'), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', 'new', { actions: [] }, '?after=.m.rule.master'), 400, 'M_INVALID_PARAM');
    refused(await put(alice, 'override', 'new', { actions: [] }, '?before=absent'), 400, 'M_UNKNOWN');
    // A rule of another kind is not a place in this one.
    refused(await put(alice, 'underride', 'new', { actions: [] }, '?after=mine'), 400, 'M_UNKNOWN');
    refused(await put(alice, 'override', 'new', { actions: [] }, '?after=new'), 400, 'M_UNKNOWN');
    refused(await put(alice, 'nonsense', 'new', { actions: [] }), 400, 'M_INVALID_PARAM');
    refused(await call(server, 'PUT', `${RULES}/device/override/new`, { token: alice.token, json: { actions: [] } }), 400, 'M_INVALID_PARAM');
    refused(await call(server, 'GET', `${RULES}/device/`, { token: alice.token }), 400, 'M_INVALID_PARAM');
    for (const [method, rest] of [['GET', ''], ['DELETE', ''], ['GET', '/enabled'], ['GET', '/actions']] as const) {
      refused(await call(server, method, at('override', 'absent', rest), { token: alice.token }), 404, 'M_NOT_FOUND');
    }
    refused(await call(server, 'PUT', at('override', 'absent', '/enabled'), { token: alice.token, json: { enabled: false } }), 404, 'M_NOT_FOUND');
    refused(await call(server, 'PUT', at('override', 'absent', '/actions'), { token: alice.token, json: { actions: [] } }), 404, 'M_NOT_FOUND');
    refused(await call(server, 'DELETE', at('override', '.m.rule.master'), { token: alice.token }), 400, 'M_INVALID_PARAM');
    refused(await call(server, 'PUT', at('override', 'x'), { json: { actions: [] } }), 401, 'M_MISSING_TOKEN');
    refused(await call(server, 'POST', at('override', 'x'), { token: alice.token, json: { actions: [] } }), 405, 'M_UNRECOGNIZED');
    // Nothing of the refused requests was kept.
    expect(await ids(alice, 'override')).to.not.include.members(['new', '.m.rule.mine', 'a/b', 'a\\b']);
    okBody(await call(server, 'DELETE', at('override', 'mine'), { token: alice.token }));
  });

  it('answers malformed bodies with 400 Matrix errors, never a 500', async function () {
    const bodies: Array<[string, unknown, string]> = [
      ['override', {}, 'M_MISSING_PARAM'],
      ['override', { actions: 'notify' }, 'M_BAD_JSON'],
      ['override', { actions: [1] }, 'M_BAD_JSON'],
      ['override', { actions: [null] }, 'M_BAD_JSON'],
      ['override', { actions: [['notify']] }, 'M_BAD_JSON'],
      ['override', { actions: [], conditions: {} }, 'M_BAD_JSON'],
      ['override', { actions: [], conditions: ['event_match'] }, 'M_BAD_JSON'],
      ['override', { actions: [], conditions: [{ key: 'type' }] }, 'M_BAD_JSON'],
      ['underride', { actions: [], conditions: [{ kind: 5 }] }, 'M_BAD_JSON'],
      ['content', { actions: [] }, 'M_MISSING_PARAM'],
      ['content', { actions: [], pattern: 5 }, 'M_BAD_JSON'],
      ['content', { actions: [], pattern: null }, 'M_BAD_JSON'],
    ];
    for (const [kind, body, errcode] of bodies) refused(await put(alice, kind, 'bad', body), 400, errcode);
    refused(await call(server, 'PUT', at('override', 'bad'), { token: alice.token, raw: '{"actions": [' }), 400, 'M_NOT_JSON');
    refused(await call(server, 'PUT', at('override', 'bad'), { token: alice.token, raw: '[]' }), 400, 'M_BAD_JSON');
    refused(await call(server, 'PUT', at('override', 'bad'), { token: alice.token, raw: `{"actions":${'['.repeat(5000)}${']'.repeat(5000)}}` }), 400, 'M_BAD_JSON');
    refused(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: {} }), 400, 'M_MISSING_PARAM');
    refused(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: { enabled: 'true' } }), 400, 'M_BAD_JSON');
    refused(await call(server, 'PUT', at('override', '.m.rule.master', '/actions'), { token: alice.token, json: { actions: {} } }), 400, 'M_BAD_JSON');
    refused(await call(server, 'PUT', `${RULES}/global/override/%zz`, { token: alice.token, json: { actions: [] } }), 400, 'M_INVALID_PARAM');
    // Kept as sent where the spec does not say what a field holds: unknown conditions and actions, extra fields.
    const odd = { actions: ['org.example.action', { set_tweak: 'org.example.tweak', value: { deep: [1, { a: null }] } }], conditions: [{ kind: 'org.example.unknown', extra: [1, 2] }] };
    okBody(await put(alice, 'override', 'odd', odd));
    expect(okBody(await call(server, 'GET', at('override', 'odd'), { token: alice.token }))).to.deep.include(odd);
    okBody(await call(server, 'DELETE', at('override', 'odd'), { token: alice.token }));
    expect(await ids(alice, 'override')).to.not.include('bad');
  });

  it('reads and sets enabled and actions, of the user’s rules and of server-default ones', async function () {
    okBody(await put(alice, 'override', 'toggle', { actions: ['notify'] }));
    expect(okBody(await call(server, 'GET', at('override', 'toggle', '/enabled'), { token: alice.token }))).to.deep.equal({ enabled: true });
    okBody(await call(server, 'PUT', at('override', 'toggle', '/enabled'), { token: alice.token, json: { enabled: false } }));
    expect(okBody(await call(server, 'GET', at('override', 'toggle', '/enabled'), { token: alice.token }))).to.deep.equal({ enabled: false });
    // Replacing a rule keeps it disabled: only a new rule starts enabled.
    okBody(await put(alice, 'override', 'toggle', { actions: [] }));
    expect(okBody(await call(server, 'GET', at('override', 'toggle'), { token: alice.token }))).to.include({ enabled: false });
    okBody(await call(server, 'PUT', at('override', 'toggle', '/actions'), { token: alice.token, json: { actions: ['notify', { set_tweak: 'highlight' }] } }));
    expect(okBody(await call(server, 'GET', at('override', 'toggle', '/actions'), { token: alice.token }))).to.deep.equal({ actions: ['notify', { set_tweak: 'highlight' }] });

    okBody(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: { enabled: true } }));
    okBody(await call(server, 'PUT', at('underride', '.m.rule.message', '/actions'), { token: alice.token, json: { actions: ['notify', { set_tweak: 'sound', value: 'x' }] } }));
    expect(okBody(await call(server, 'GET', at('override', '.m.rule.master'), { token: alice.token }))).to.deep.equal({ rule_id: '.m.rule.master', default: true, enabled: true, conditions: [], actions: [] });
    expect(okBody(await call(server, 'GET', at('underride', '.m.rule.message', '/actions'), { token: alice.token }))).to.deep.equal({ actions: ['notify', { set_tweak: 'sound', value: 'x' }] });
    expect(okBody(await call(server, 'GET', at('underride', '.m.rule.message'), { token: alice.token }))).to.include({ default: true, enabled: true });
    // Another user's server-default rules are theirs alone.
    expect(okBody(await call(server, 'GET', at('override', '.m.rule.master', '/enabled'), { token: bob.token }))).to.deep.equal({ enabled: false });
    okBody(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: { enabled: false } }));
    okBody(await call(server, 'PUT', at('underride', '.m.rule.message', '/actions'), { token: alice.token, json: { actions: ['notify'] } }));
    okBody(await call(server, 'DELETE', at('override', 'toggle'), { token: alice.token }));
  });

  it('refuses m.push_rules (and m.fully_read) through the account data API with 405 M_BAD_JSON', async function () {
    const data = (user: User, type: string, room = '') => `/_matrix/client/v3/user/${encodeURIComponent(user.userId)}${room === '' ? '' : `/rooms/${encodeURIComponent(room)}`}/account_data/${type}`;
    refused(await call(server, 'PUT', data(alice, 'm.push_rules'), { token: alice.token, json: { global: {} } }), 405, 'M_BAD_JSON');
    refused(await call(server, 'PUT', data(alice, 'm.fully_read', '!r:localhost'), { token: alice.token, json: { event_id: '$e' } }), 405, 'M_BAD_JSON');
    refused(await call(server, 'PUT', data(bob, 'm.push_rules'), { token: alice.token, json: {} }), 403, 'M_FORBIDDEN');
    refused(await call(server, 'PUT', data(alice, 'org.example.data'), { token: alice.token, json: {} }), 404, 'M_UNRECOGNIZED');
  });

  it('keeps each user’s rules to themselves', async function () {
    okBody(await put(alice, 'content', 'secret', { pattern: 'secret', actions: ['notify'] }));
    expect(await ids(bob, 'content')).to.not.include('secret');
    refused(await call(server, 'GET', at('content', 'secret'), { token: bob.token }), 404, 'M_NOT_FOUND');
    refused(await call(server, 'DELETE', at('content', 'secret'), { token: bob.token }), 404, 'M_NOT_FOUND');
    refused(await call(server, 'PUT', at('content', 'secret', '/enabled'), { token: bob.token, json: { enabled: false } }), 404, 'M_NOT_FOUND');
    // Bob may have a rule of the same id; it is another rule.
    okBody(await put(bob, 'content', 'secret', { pattern: 'other', actions: [] }));
    expect(okBody(await call(server, 'GET', at('content', 'secret'), { token: alice.token }))).to.include({ pattern: 'secret' });
    for (const user of [alice, bob]) okBody(await call(server, 'DELETE', at('content', 'secret'), { token: user.token }));
  });

  it('caps the rules per user, the size of a rule, and the storage of all', async function () {
    const small = await start({ maxPushRulesPerUser: 2, maxPushRuleBytes: 300, maxPushRuleStorageBytes: 2500, adminContact: 'mailto:rules@example.org' });
    const [a, b, c] = [await register(small), await register(small), await register(small)];
    const putOn = (user: User, id: string, json: unknown) => call(small, 'PUT', at('override', id), { token: user.token, json });
    okBody(await putOn(a, 'one', { actions: [] }));
    okBody(await putOn(a, 'two', { actions: [] }));
    const full = await putOn(a, 'three', { actions: [] });
    refused(full, 403, 'M_RESOURCE_LIMIT_EXCEEDED');
    expect(full.body).to.have.property('admin_contact', 'mailto:rules@example.org');
    okBody(await putOn(a, 'two', { actions: ['notify'] }));
    refused(await putOn(a, 'one', { actions: ['notify', { set_tweak: 'x', value: 'y'.repeat(300) }] }), 400, 'M_TOO_LARGE');
    refused(await call(small, 'PUT', at('override', '.m.rule.master', '/actions'), { token: a.token, json: { actions: [{ set_tweak: 'x', value: 'y'.repeat(300) }] } }), 400, 'M_TOO_LARGE');
    // Each rule counts its JSON and 512 bytes (about 590 here): a's two and b's two fit in 2500, c's first does not.
    okBody(await call(small, 'PUT', at('override', 'one'), { token: b.token, json: { actions: [] } }));
    okBody(await call(small, 'PUT', at('override', 'two'), { token: b.token, json: { actions: [] } }));
    refused(await putOn(c, 'one', { actions: [] }), 403, 'M_RESOURCE_LIMIT_EXCEEDED');
    okBody(await call(small, 'DELETE', at('override', 'one'), { token: b.token }));
    okBody(await putOn(c, 'one', { actions: [] }));
    const tight = await start({ maxPushRuleBytesPerUser: 150 });
    const d = await register(tight);
    okBody(await call(tight, 'PUT', at('room', '!one:x'), { token: d.token, json: { actions: [] } }));
    okBody(await call(tight, 'PUT', at('room', '!two:x'), { token: d.token, json: { actions: [] } }));
    refused(await call(tight, 'PUT', at('room', '!three:x'), { token: d.token, json: { actions: [] } }), 403, 'M_RESOURCE_LIMIT_EXCEEDED');
  });

  it('follows pushRulesVersion where versions contradict each other', async function () {
    const old = await start({ pushRulesVersion: 'v1.6' });
    const carol = await register(old);
    const rules = okBody(await call(old, 'GET', `${RULES}/global/`, { token: carol.token })) as Record<string, Array<{ rule_id: string; actions: unknown }>>;
    expect(rules.override?.find((r) => r.rule_id === '.m.rule.master')?.actions).to.deep.equal(['dont_notify']);
    expect(rules.override?.map((r) => r.rule_id)).to.not.include('.m.rule.is_user_mention');
    const advertised = await start({ versions: ['v1.1', 'v1.2', 'v1.3'] });
    const dave = await register(advertised);
    expect(((okBody(await call(advertised, 'GET', `${RULES}/global/`, { token: dave.token })).override as Array<{ rule_id: string }>).map((r) => r.rule_id))).to.not.include('.m.rule.room.server_acl');
    let error: unknown;
    try {
      await start({ pushRulesVersion: 'latest' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(RangeError);
  });
});

// ---- the effect on delivery ----

interface Poke {
  notification: { event_id?: string; room_id?: string; type?: string; content?: Record<string, unknown>; devices: Array<{ pushkey: string; tweaks: Record<string, unknown> }> };
}

/** A push gateway over HTTPS that hands each poke to whoever waits for it: waits end on arrival, or fail at their deadline. */
class Gateway {
  readonly pokes: Poke[] = [];
  readonly #waiters = new Set<() => void>();
  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Gateway> {
    const cert = makeCertificate();
    const server = createHttpsServer({ key: cert.key, cert: cert.cert });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const gateway = new Gateway(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}/_matrix/push/v1/notify`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"rejected":[]}');
        gateway.pokes.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Poke);
        for (const wake of gateway.#waiters) wake();
      });
    });
    return gateway;
  }

  /** The poke for this pushkey about this event, once it has come. */
  async about(pushkey: string, eventId: string, timeoutMs = 5000): Promise<Poke> {
    const find = (): Poke | undefined => this.for(pushkey).find((p) => p.notification.event_id === eventId);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no poke for ${pushkey} about ${eventId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  for(pushkey: string): Poke[] {
    return this.pokes.filter((p) => p.notification.devices.some((d) => d.pushkey === pushkey));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('push rules: their effect on what reaches the gateway', function () {
  this.timeout(30_000);
  let gateway: Gateway;
  let server: RunningServer;
  let alice: User;
  let bob: User;
  let carol: User;
  let key: string;
  before(async function () {
    gateway = await Gateway.start();
    server = await createServer({ port: 0, host: '127.0.0.1', pushTlsVerify: false });
    [alice, bob, carol] = [await register(server), await register(server), await register(server)];
    key = `rules-${process.pid}`;
    okBody(await call(server, 'POST', '/_matrix/client/v3/pushers/set', {
      token: alice.token,
      json: { kind: 'http', app_id: 'org.example.rules', pushkey: key, app_display_name: 'A', device_display_name: 'D', lang: 'en', data: { url: gateway.url } },
    }));
  });
  after(async function () {
    await server.close();
    await gateway.close();
  });

  let txn = 0;
  const send = async (user: User, room: string, content: unknown, type = 'm.room.message'): Promise<string> => {
    txn += 1;
    return okBody(await call(server, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/${encodeURIComponent(type)}/t${txn}`, { token: user.token, json: content })).event_id as string;
  };
  const state = async (user: User, room: string, type: string, content: unknown, stateKey = ''): Promise<string> =>
    okBody(await call(server, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`, { token: user.token, json: content })).event_id as string;
  const text = (body: string, extra: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, ...extra });
  /** A room of `creator` that the others joined. */
  const room = async (creator: User, ...others: User[]): Promise<string> => {
    const id = okBody(await call(server, 'POST', '/_matrix/client/v3/createRoom', { token: creator.token, json: { preset: 'private_chat', invite: others.map((o) => o.userId) } })).room_id as string;
    for (const other of others) okBody(await call(server, 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(id)}/join`, { token: other.token, json: {} }));
    return id;
  };
  const tweaks = async (eventId: string): Promise<Record<string, unknown>> => (await gateway.about(key, eventId)).notification.devices[0]?.tweaks ?? {};
  /** None of `silent` was pushed: the witness, sent after them, has arrived, and the pusher's queue is in order. */
  const notPushed = async (silent: readonly string[], witness: string): Promise<void> => {
    await gateway.about(key, witness);
    const seen = gateway.for(key).map((p) => p.notification.event_id);
    for (const eventId of silent) expect(seen, `a poke about ${eventId}`).to.not.include(eventId);
  };
  const rule = (kind: string, id: string, json: unknown, query = '') => call(server, 'PUT', at(kind, id, '', query), { token: alice.token, json });
  const drop = (kind: string, id: string) => call(server, 'DELETE', at(kind, id), { token: alice.token });
  let twoRoom: string;
  let threeRoom: string;
  before(async function () {
    twoRoom = await room(bob, alice);
    threeRoom = await room(bob, alice, carol);
  });

  it('pushes a message in a room of two with the default sound, in a room of three with none', async function () {
    expect(await tweaks(await send(bob, twoRoom, text('hello')))).to.deep.equal({ sound: 'default' });
    expect(await tweaks(await send(bob, threeRoom, text('hello')))).to.deep.equal({});
    // Encrypted events follow the same two rules.
    expect(await tweaks(await send(bob, twoRoom, { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' }, 'm.room.encrypted'))).to.deep.equal({ sound: 'default' });
  });

  it('does not push notices, reactions, edits, or the user’s own messages', async function () {
    const silent = [
      await send(bob, twoRoom, { msgtype: 'm.notice', body: 'a bot speaks' }),
      await send(bob, twoRoom, { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$x', key: '👍' } }, 'm.reaction'),
      await send(bob, twoRoom, text('* fixed', { 'm.new_content': text('fixed'), 'm.relates_to': { rel_type: 'm.replace', event_id: '$x' } })),
      await send(alice, twoRoom, text('my own')),
    ];
    await notPushed(silent, await send(bob, twoRoom, text('witness')));
  });

  it('pushes nothing while .m.rule.master is enabled, whatever the user’s own rules say', async function () {
    okBody(await rule('override', 'everything', { actions: ['notify'] }));
    okBody(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: { enabled: true } }));
    const muted = await send(bob, twoRoom, text('muted'));
    okBody(await call(server, 'PUT', at('override', '.m.rule.master', '/enabled'), { token: alice.token, json: { enabled: false } }));
    okBody(await drop('override', 'everything'));
    await notPushed([muted], await send(bob, twoRoom, text('witness')));
  });

  it('stops the push by a room, a sender or an override rule without notify; a disabled rule changes nothing', async function () {
    okBody(await rule('room', twoRoom, { actions: [] }));
    const byRoom = await send(bob, twoRoom, text('room muted'));
    okBody(await drop('room', twoRoom));
    okBody(await rule('sender', carol.userId, { actions: ['dont_notify'] }));
    const bySender = await send(carol, threeRoom, text('carol muted'));
    okBody(await drop('sender', carol.userId));
    okBody(await rule('override', 'quiet', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'quiet' }], actions: [] }));
    const byOverride = await send(bob, twoRoom, text('be QUIET please'));
    okBody(await call(server, 'PUT', at('override', 'quiet', '/enabled'), { token: alice.token, json: { enabled: false } }));
    const disabled = await send(bob, twoRoom, text('quiet again'));
    okBody(await drop('override', 'quiet'));
    await notPushed([byRoom, bySender, byOverride], disabled);
  });

  it('pushes a content rule’s match with its tweaks; a glob is not a regular expression', async function () {
    okBody(await rule('content', 'cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'sound', value: 'cakealarm.wav' }, { set_tweak: 'highlight' }] }));
    okBody(await rule('content', 'dots', { pattern: 'a.c', actions: ['notify', { set_tweak: 'sound', value: 'dots' }] }));
    expect(await tweaks(await send(bob, threeRoom, text('I like Cake.')))).to.deep.equal({ sound: 'cakealarm.wav', highlight: true });
    // Not a word of its own: the message rule decides, without tweaks.
    expect(await tweaks(await send(bob, threeRoom, text('pancakes')))).to.deep.equal({});
    expect(await tweaks(await send(bob, threeRoom, text('abc')))).to.deep.equal({});
    expect(await tweaks(await send(bob, threeRoom, text('a.c')))).to.deep.equal({ sound: 'dots' });
    for (const id of ['cake', 'dots']) okBody(await drop('content', id));
  });

  it('applies room_member_count, and lets the first matching rule of a kind win', async function () {
    okBody(await rule('override', 'crowd', { conditions: [{ kind: 'room_member_count', is: '>=3' }], actions: ['notify', { set_tweak: 'sound', value: 'crowd' }] }));
    okBody(await rule('override', 'first', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'both' }], actions: ['notify', { set_tweak: 'sound', value: 'first' }] }, '?before=crowd'));
    expect(await tweaks(await send(bob, threeRoom, text('hi')))).to.deep.equal({ sound: 'crowd' });
    expect(await tweaks(await send(bob, threeRoom, text('both')))).to.deep.equal({ sound: 'first' });
    expect(await tweaks(await send(bob, twoRoom, text('hi')))).to.deep.equal({ sound: 'default' });
    for (const id of ['crowd', 'first']) okBody(await drop('override', id));
  });

  it('highlights mentions: m.mentions of the user, a room mention by a sender with the power, the display name without m.mentions', async function () {
    okBody(await call(server, 'PUT', `/_matrix/client/v3/profile/${encodeURIComponent(alice.userId)}/displayname`, { token: alice.token, json: { displayname: 'Alice Liddell' } }));
    const mentioned = await send(carol, threeRoom, text('look', { 'm.mentions': { user_ids: [alice.userId] } }));
    expect(await tweaks(mentioned)).to.deep.equal({ sound: 'default', highlight: true });
    // bob created the room (power 100); carol joined it (0).
    expect(await tweaks(await send(bob, threeRoom, text('all', { 'm.mentions': { room: true } })))).to.deep.equal({ highlight: true });
    expect(await tweaks(await send(carol, threeRoom, text('all', { 'm.mentions': { room: true } })))).to.deep.equal({});
    expect(await tweaks(await send(carol, threeRoom, text('hi alice liddell!')))).to.deep.equal({ sound: 'default', highlight: true });
    // With m.mentions, the legacy rules that read the body step aside.
    expect(await tweaks(await send(carol, threeRoom, text('hi alice liddell!', { 'm.mentions': {} })))).to.deep.equal({});
    expect(await tweaks(await send(bob, threeRoom, text('@room wake up')))).to.deep.equal({ highlight: true });
    okBody(await call(server, 'PUT', `/_matrix/client/v3/profile/${encodeURIComponent(alice.userId)}/displayname`, { token: alice.token, json: { displayname: null } }));
    expect(await tweaks(await send(carol, threeRoom, text('hi alice liddell!')))).to.deep.equal({});
  });

  it('notifies an invite with the default sound, and follows the room’s power levels', async function () {
    const invited = await room(bob);
    okBody(await call(server, 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(invited)}/invite`, { token: bob.token, json: { user_id: alice.userId } }));
    okBody(await call(server, 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(invited)}/join`, { token: alice.token, json: {} }));
    // The witness comes after the invite, so the invite's poke is in by then.
    await gateway.about(key, await send(bob, invited, text('after the invite')));
    const invitePokes = gateway.for(key).filter((p) => p.notification.room_id === invited && p.notification.type === 'm.room.member');
    expect(invitePokes.map((p) => [p.notification.content, p.notification.devices[0]?.tweaks])).to.deep.equal([[{ membership: 'invite' }, { sound: 'default' }]]);
    // Power to notify the room, given to carol.
    await state(bob, threeRoom, 'm.room.power_levels', { users: { [bob.userId]: 100, [carol.userId]: 50 } });
    expect(await tweaks(await send(carol, threeRoom, text('all', { 'm.mentions': { room: true } })))).to.deep.equal({ highlight: true });
    // alice has the default level, 0; state events need 50.
    refused(await call(server, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(threeRoom)}/state/m.room.power_levels/`, { token: alice.token, json: { users: {} } }), 403, 'M_FORBIDDEN');
    refused(await call(server, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(threeRoom)}/state/m.room.topic`, { token: alice.token, json: { topic: 'no' } }), 403, 'M_FORBIDDEN');
    refused(await call(server, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(threeRoom)}/state/m.room.power_levels/`, { token: bob.token, json: { users: { x: 'high' } } }), 400, 'M_BAD_JSON');
  });

  it('suppresses m.room.server_acl and highlights m.room.tombstone, state events both', async function () {
    okBody(await rule('underride', 'anything', { actions: ['notify', { set_tweak: 'sound', value: 'any' }] }));
    const acl = await state(bob, twoRoom, 'm.room.server_acl', { allow: ['*'], deny: [] });
    const topic = await state(bob, twoRoom, 'm.room.topic', { topic: 'rules' });
    await notPushed([acl], topic);
    expect(await tweaks(topic)).to.deep.equal({ sound: 'any' });
    expect(await tweaks(await state(bob, twoRoom, 'm.room.tombstone', { body: 'moved', replacement_room: '!new:localhost' }))).to.deep.equal({ highlight: true });
    okBody(await drop('underride', 'anything'));
  });
});
