import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { createServer, type RunningServer } from '../reference-server/index.js';

/** The schema every error body must pass, read from spec/ as the runner reads it. */
const matrixErrorSchema: unknown = JSON.parse(readFileSync(new URL('../../spec/schemas/matrix-error.json', import.meta.url), 'utf8'));
const isMatrixError = new Ajv().compile(matrixErrorSchema as object);

let server: RunningServer;

interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

interface CallOptions {
  token?: string;
  /** Serialised with JSON.stringify. */
  json?: unknown;
  /** Sent as is, for malformed input. */
  raw?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] ??= 'application/json';
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Left as text: the assertions will say what was wrong with it.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

function expectError(reply: Reply, status: number, errcode?: string): void {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
  expect(isMatrixError(reply.body), `not a Matrix error: ${JSON.stringify(reply.body)}`).to.equal(true);
  if (errcode !== undefined) expect(reply.body).to.have.property('errcode', errcode);
}

let userCounter = 0;
/** Run-unique names, so tests never see each other's users. */
function uniqueName(): string {
  userCounter += 1;
  return `t${process.pid}-${userCounter}`;
}

interface User {
  userId: string;
  token: string;
  password: string;
  name: string;
}

async function register(name = uniqueName(), password = 'secret'): Promise<User> {
  const first = await call('POST', '/_matrix/client/v3/register', { json: { username: name, password } });
  expect(first.status).to.equal(401);
  const session = (first.body as { session: string }).session;
  const done = await call('POST', '/_matrix/client/v3/register', {
    json: { username: name, password, auth: { type: 'm.login.dummy', session } },
  });
  expect(done.status, JSON.stringify(done.body)).to.equal(200);
  const { user_id: userId, access_token: token } = done.body as { user_id: string; access_token: string };
  return { userId, token, password, name };
}

const V1_SET = '/_matrix/client/v3/pushers/set';
const V1_GET = '/_matrix/client/v3/pushers';
const DRAFT_SET = '/_matrix/client/api/v1/pushers/set';
const GATEWAY = 'https://push.example.org/_matrix/push/v1/notify';

function v1Pusher(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pushkey: 'pk-1',
    kind: 'http',
    app_id: 'org.example.app.ios',
    app_display_name: 'Example',
    device_display_name: 'Phone',
    lang: 'en',
    data: { url: GATEWAY, format: 'event_id_only' },
    ...overrides,
  };
}

function draftPusher(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...v1Pusher(), instance_handle: 'handle-1', ...overrides };
}

async function listPushers(user: User): Promise<Array<Record<string, unknown>>> {
  const reply = await call('GET', V1_GET, { token: user.token });
  expect(reply.status).to.equal(200);
  return (reply.body as { pushers: Array<Record<string, unknown>> }).pushers;
}

describe('reference server', function () {
  before(async function () {
    server = await createServer({ port: 0 });
  });

  after(async function () {
    await server.close();
  });

  describe('accounts', function () {
    it('advertises its versions and names itself in Server', async function () {
      const reply = await call('GET', '/_matrix/client/versions');
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.include({ unstable_features: {} });
      expect((reply.body as { versions: string[] }).versions).to.include.members(['r0.6.1', 'v1.1', 'v1.12']);
      expect(reply.headers.get('server')).to.match(/reference-server\/\d+\.\d+\.\d+/);
    });

    it('registers through the m.login.dummy flow', async function () {
      const name = uniqueName();
      const first = await call('POST', '/_matrix/client/v3/register', { json: { username: name, password: 'pw' } });
      expect(first.status).to.equal(401);
      expect(first.body).to.deep.include({ flows: [{ stages: ['m.login.dummy'] }], params: {} });
      const session = (first.body as { session: unknown }).session;
      expect(session).to.be.a('string').that.is.not.empty;
      const done = await call('POST', '/_matrix/client/r0/register', {
        json: { username: name, password: 'pw', auth: { type: 'm.login.dummy', session } },
      });
      expect(done.status).to.equal(200);
      expect(done.body).to.include({ user_id: `@${name}:localhost` });
      expect(done.body).to.have.property('access_token').that.is.a('string');
      expect(done.body).to.have.property('device_id').that.is.a('string');
    });

    it('refuses a session it never issued, and reuse of a completed one', async function () {
      const forged = await call('POST', '/_matrix/client/v3/register', { json: { auth: { type: 'm.login.dummy', session: 'made-up' } } });
      expect(forged.status).to.equal(401);
      expect(forged.body).to.have.property('session').that.is.a('string').and.not.equal('made-up');

      const first = await call('POST', '/_matrix/client/v3/register', { json: {} });
      const auth = { type: 'm.login.dummy', session: (first.body as { session: string }).session };
      expect((await call('POST', '/_matrix/client/v3/register', { json: { auth } })).status).to.equal(200);
      expect((await call('POST', '/_matrix/client/v3/register', { json: { auth } })).status).to.equal(401);
    });

    it('generates a username when none is given, and honours inhibit_login', async function () {
      const first = await call('POST', '/_matrix/client/v3/register', { json: {} });
      const session = (first.body as { session: string }).session;
      const done = await call('POST', '/_matrix/client/v3/register', { json: { inhibit_login: true, auth: { type: 'm.login.dummy', session } } });
      expect(done.status).to.equal(200);
      expect((done.body as { user_id: string }).user_id).to.match(/^@[a-z0-9._=\-/]+:localhost$/);
      expect(done.body).not.to.have.property('access_token');
    });

    it('refuses a taken username with M_USER_IN_USE', async function () {
      const user = await register();
      expectError(await call('POST', '/_matrix/client/v3/register', { json: { username: user.name, password: 'x' } }), 400, 'M_USER_IN_USE');
    });

    it('refuses an invalid username with M_INVALID_USERNAME', async function () {
      for (const username of ['Alice', 'has space', '', 'émile', 'a:b', 'x'.repeat(260)]) {
        expectError(await call('POST', '/_matrix/client/v3/register', { json: { username } }), 400, 'M_INVALID_USERNAME');
      }
    });

    it('refuses guest registration', async function () {
      expectError(await call('POST', '/_matrix/client/v3/register?kind=guest', { json: {} }), 403, 'M_FORBIDDEN');
    });

    it('logs in with a password, by identifier or legacy user field', async function () {
      const user = await register();
      const flows = await call('GET', '/_matrix/client/v3/login');
      expect(flows.body).to.deep.equal({ flows: [{ type: 'm.login.password' }] });

      const byIdentifier = await call('POST', '/_matrix/client/v3/login', {
        json: { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.userId }, password: user.password },
      });
      expect(byIdentifier.status).to.equal(200);
      expect(byIdentifier.body).to.include({ user_id: user.userId });
      const token = (byIdentifier.body as { access_token: string }).access_token;
      expect(token).to.not.equal(user.token);

      const legacy = await call('POST', '/_matrix/client/r0/login', { json: { type: 'm.login.password', user: user.name, password: user.password } });
      expect(legacy.status).to.equal(200);

      const whoami = await call('GET', '/_matrix/client/v3/account/whoami', { token });
      expect(whoami.body).to.include({ user_id: user.userId, device_id: (byIdentifier.body as { device_id: string }).device_id });
    });

    it('refuses a wrong password or unknown user with 403 M_FORBIDDEN', async function () {
      const user = await register();
      const wrong = { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.name }, password: 'nope' };
      expectError(await call('POST', '/_matrix/client/v3/login', { json: wrong }), 403, 'M_FORBIDDEN');
      const unknown = { ...wrong, identifier: { type: 'm.id.user', user: 'nobody-at-all' } };
      expectError(await call('POST', '/_matrix/client/v3/login', { json: unknown }), 403, 'M_FORBIDDEN');
    });

    it('answers whoami from the header or the access_token query parameter', async function () {
      const user = await register();
      const byHeader = await call('GET', '/_matrix/client/v3/account/whoami', { token: user.token });
      expect(byHeader.body).to.include({ user_id: user.userId });
      const byQuery = await call('GET', `/_matrix/client/r0/account/whoami?access_token=${encodeURIComponent(user.token)}`);
      expect(byQuery.body).to.include({ user_id: user.userId });
    });

    it('refuses a missing token with M_MISSING_TOKEN and an unknown one with M_UNKNOWN_TOKEN', async function () {
      for (const [method, path] of [['GET', '/_matrix/client/v3/account/whoami'], ['GET', V1_GET], ['POST', V1_SET], ['POST', DRAFT_SET]] as const) {
        expectError(await call(method, path, { json: method === 'POST' ? v1Pusher() : undefined }), 401, 'M_MISSING_TOKEN');
        expectError(await call(method, path, { token: 'not-a-token', json: method === 'POST' ? v1Pusher() : undefined }), 401, 'M_UNKNOWN_TOKEN');
      }
    });
  });

  describe('v1 pushers', function () {
    it('creates a pusher with 200 {} and lists it with every field as sent', async function () {
      const user = await register();
      const sent = v1Pusher({ data: { url: GATEWAY, format: 'event_id_only', custom: { nested: [1, 'two', null] } } });
      const reply = await call('POST', V1_SET, { token: user.token, json: { ...sent, append: false } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
      // append is an instruction, and profile_tag was not sent: neither is listed.
      expect(await listPushers(user)).to.deep.equal([sent]);
    });

    it('stores profile_tag when sent', async function () {
      const user = await register();
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ profile_tag: 'tag' }) });
      expect(await listPushers(user)).to.deep.equal([v1Pusher({ profile_tag: 'tag' })]);
    });

    it('keeps "__proto__" and other odd data keys verbatim', async function () {
      const user = await register();
      const raw = JSON.stringify(v1Pusher()).replace('"format":"event_id_only"', '"__proto__":{"polluted":true},"constructor":1');
      expect((await call('POST', V1_SET, { token: user.token, raw })).status).to.equal(200);
      const [pusher] = await listPushers(user);
      expect(Object.keys(pusher?.data as object)).to.deep.equal(['url', '__proto__', 'constructor']);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });

    it('updates in place on the same app_id and pushkey', async function () {
      const user = await register();
      await call('POST', V1_SET, { token: user.token, json: v1Pusher() });
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ device_display_name: 'Tablet', lang: 'fr' }) });
      expect(await listPushers(user)).to.deep.equal([v1Pusher({ device_display_name: 'Tablet', lang: 'fr' })]);
    });

    it('keeps two pushers with the same pushkey and different app_ids', async function () {
      const user = await register();
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ app_id: 'a.one' }) });
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ app_id: 'a.two' }) });
      expect((await listPushers(user)).map((p) => p.app_id)).to.deep.equal(['a.one', 'a.two']);
    });

    it('accepts the same profile_tag on two pushers', async function () {
      const user = await register();
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'a', profile_tag: 'same' }) });
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'b', profile_tag: 'same' }) });
      expect(await listPushers(user)).to.have.length(2);
    });

    it('deletes with kind null, leaving the other pushers', async function () {
      const user = await register();
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'a' }) });
      await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'b' }) });
      const reply = await call('POST', V1_SET, { token: user.token, json: { kind: null, app_id: v1Pusher().app_id, pushkey: 'a' } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
      expect((await listPushers(user)).map((p) => p.pushkey)).to.deep.equal(['b']);
    });

    it('answers 200 {} to deleting a pusher that does not exist', async function () {
      const user = await register();
      const reply = await call('POST', V1_SET, { token: user.token, json: { kind: null, app_id: 'none', pushkey: 'none' } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
    });

    it('refuses a delete without app_id or pushkey with M_MISSING_PARAM', async function () {
      const user = await register();
      expectError(await call('POST', V1_SET, { token: user.token, json: { kind: null, pushkey: 'a' } }), 400, 'M_MISSING_PARAM');
      expectError(await call('POST', V1_SET, { token: user.token, json: { kind: null, app_id: 'a' } }), 400, 'M_MISSING_PARAM');
    });

    it("replaces another user's pusher with the same app_id and pushkey unless append is true", async function () {
      const [alice, bob, carol] = await Promise.all([register(), register(), register()]);
      if (alice === undefined || bob === undefined || carol === undefined) throw new Error('registration failed');
      await call('POST', V1_SET, { token: alice.token, json: v1Pusher() });
      await call('POST', V1_SET, { token: bob.token, json: v1Pusher({ append: true }) });
      expect(await listPushers(alice)).to.have.length(1);
      expect(await listPushers(bob)).to.have.length(1);
      await call('POST', V1_SET, { token: carol.token, json: v1Pusher() });
      expect(await listPushers(alice)).to.deep.equal([]);
      expect(await listPushers(bob)).to.deep.equal([]);
      expect(await listPushers(carol)).to.have.length(1);
    });

    it("lists only the caller's pushers", async function () {
      const [alice, bob] = await Promise.all([register(), register()]);
      if (alice === undefined || bob === undefined) throw new Error('registration failed');
      await call('POST', V1_SET, { token: alice.token, json: v1Pusher({ pushkey: 'alice' }) });
      await call('POST', V1_SET, { token: bob.token, json: v1Pusher({ pushkey: 'bob' }) });
      expect((await listPushers(alice)).map((p) => p.pushkey)).to.deep.equal(['alice']);
      expect((await listPushers(bob)).map((p) => p.pushkey)).to.deep.equal(['bob']);
    });

    it('counts app_id in characters: 64 × "é" passes, 65 characters fail with M_INVALID_PARAM', async function () {
      const user = await register();
      expect((await call('POST', V1_SET, { token: user.token, json: v1Pusher({ app_id: 'é'.repeat(64) }) })).status).to.equal(200);
      expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ app_id: 'a'.repeat(65) }) }), 400, 'M_INVALID_PARAM');
    });

    it('counts pushkey in UTF-8 bytes: 512 pass, 513 fail', async function () {
      const user = await register();
      const okKey = 'é'.repeat(256);
      expect((await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: okKey }) })).status).to.equal(200);
      expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: `${okKey}a` }) }), 400, 'M_INVALID_PARAM');
      expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'a'.repeat(513) }) }), 400, 'M_INVALID_PARAM');
    });

    it('refuses an http pusher whose data has no url', async function () {
      const user = await register();
      expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ data: { format: 'event_id_only' } }) }), 400, 'M_MISSING_PARAM');
    });

    it('refuses a url with the wrong path, a non-URL, or plain http://', async function () {
      const user = await register();
      for (const url of ['https://push.example.org/notify', 'not a url', 'ftp://h/_matrix/push/v1/notify', 'http://push.example.org/_matrix/push/v1/notify']) {
        expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ data: { url } }) }), 400, 'M_INVALID_PARAM');
      }
    });

    it('refuses each missing create field with M_MISSING_PARAM', async function () {
      const user = await register();
      for (const field of ['pushkey', 'kind', 'app_id', 'app_display_name', 'device_display_name', 'lang', 'data']) {
        const body = v1Pusher();
        delete body[field];
        expectError(await call('POST', V1_SET, { token: user.token, json: body }), 400, 'M_MISSING_PARAM');
      }
    });

    it('refuses fields of the wrong JSON type with M_BAD_JSON', async function () {
      const user = await register();
      for (const bad of [{ app_id: 5 }, { data: 'x' }, { append: 'yes' }, { kind: 3 }, { pushkey: null }, { profile_tag: [] }, { lang: {} }]) {
        expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher(bad) }), 400, 'M_BAD_JSON');
      }
    });

    it('refuses a kind other than http or email', async function () {
      const user = await register();
      expectError(await call('POST', V1_SET, { token: user.token, json: v1Pusher({ kind: 'carrier-pigeon' }) }), 400, 'M_INVALID_PARAM');
      expect((await call('POST', V1_SET, { token: user.token, json: v1Pusher({ kind: 'email', pushkey: 'a@example.org', data: {} }) })).status).to.equal(200);
    });

    it('ignores the content-type: a JSON body sent as text/plain is accepted', async function () {
      const user = await register();
      const reply = await call('POST', V1_SET, { token: user.token, raw: JSON.stringify(v1Pusher()), headers: { 'Content-Type': 'text/plain' } });
      expect(reply.status).to.equal(200);
    });

    it('serves the same endpoints under r0', async function () {
      const user = await register();
      expect((await call('POST', '/_matrix/client/r0/pushers/set', { token: user.token, json: v1Pusher() })).status).to.equal(200);
      expect((await call('GET', '/_matrix/client/r0/pushers', { token: user.token })).body).to.deep.equal({ pushers: [v1Pusher()] });
    });

    it('loses no update among 50 parallel sets for one user', async function () {
      const user = await register();
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => call('POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: `k${i % 25}`, device_display_name: `d${i}` }) })),
      );
      expect(replies.map((r) => r.status)).to.deep.equal(Array(50).fill(200));
      const pushers = await listPushers(user);
      expect(pushers.map((p) => p.pushkey).sort()).to.deep.equal(Array.from({ length: 25 }, (_, i) => `k${i}`).sort());
      // Each key's survivor is one of the two writes for it, not a mixture.
      for (const p of pushers) {
        const i = Number(String(p.pushkey).slice(1));
        expect([`d${i}`, `d${i + 25}`]).to.include(p.device_display_name);
      }
    });
  });

  describe('draft pushers', function () {
    it('creates a pusher with 200 {}', async function () {
      const user = await register();
      const reply = await call('POST', DRAFT_SET, { token: user.token, json: draftPusher() });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
    });

    it('refuses each of the eight keys missing on create', async function () {
      const user = await register();
      for (const field of ['pushkey', 'kind', 'instance_handle', 'app_id', 'app_display_name', 'device_display_name', 'lang', 'data']) {
        const body = draftPusher();
        delete body[field];
        expectError(await call('POST', DRAFT_SET, { token: user.token, json: body }), 400);
      }
    });

    it('limits app_id to 64 characters and instance_handle to 32', async function () {
      const user = await register();
      const set = (o: Record<string, unknown>) => call('POST', DRAFT_SET, { token: user.token, json: draftPusher(o) });
      expect((await set({ app_id: 'é'.repeat(64), instance_handle: 'h64' })).status).to.equal(200);
      expectError(await set({ app_id: 'a'.repeat(65), instance_handle: 'h65' }), 400, 'M_INVALID_PARAM');
      expect((await set({ pushkey: 'k32', instance_handle: 'h'.repeat(32) })).status).to.equal(200);
      expectError(await set({ pushkey: 'k33', instance_handle: 'h'.repeat(33) }), 400, 'M_INVALID_PARAM');
    });

    it('refuses an http pusher whose data has no url', async function () {
      const user = await register();
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ data: {} }) }), 400, 'M_MISSING_PARAM');
    });

    it('refuses a url other than a gateway\'s notify path, as for a v1 pusher (a safety limit of the server)', async function () {
      const user = await register();
      for (const url of ['https://push.example.org/notify', 'https://push.example.org/_matrix/client/v3/logout', 'https://push.example.org/_matrix/push/v1/notify?x=1', 'https://push.example.org/_matrix/push/v1/notify#f', 'https://push.example.org/_matrix/push/v1/notify/extra', 'http://push.example.org/_matrix/push/v1/notify']) {
        expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: url, data: { url } }) }), 400, 'M_INVALID_PARAM');
      }
      expect((await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ data: { url: 'https://push.example.org:8443/_matrix/push/v1/notify' } }) })).status).to.equal(200);
    });

    it('refuses a kind other than http or null', async function () {
      const user = await register();
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ kind: 'email' }) }), 400, 'M_INVALID_PARAM');
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ kind: 1 }) }), 400, 'M_BAD_JSON');
    });

    it('refuses a second pusher with a handle already held, keeping the first', async function () {
      const user = await register();
      await call('POST', DRAFT_SET, { token: user.token, json: draftPusher() });
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'other' }) }), 400, 'M_INVALID_PARAM');
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ app_id: 'other' }) }), 400, 'M_INVALID_PARAM');
      // The first still holds it: a third pusher is refused the same way.
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'third' }) }), 400, 'M_INVALID_PARAM');
    });

    it('treats the same app_id, pushkey and handle as an update', async function () {
      const user = await register();
      await call('POST', DRAFT_SET, { token: user.token, json: draftPusher() });
      expect((await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ lang: 'de' }) })).status).to.equal(200);
    });

    it('keeps handles unique per user only', async function () {
      const [alice, bob] = await Promise.all([register(), register()]);
      if (alice === undefined || bob === undefined) throw new Error('registration failed');
      expect((await call('POST', DRAFT_SET, { token: alice.token, json: draftPusher() })).status).to.equal(200);
      expect((await call('POST', DRAFT_SET, { token: bob.token, json: draftPusher({ pushkey: 'bob' }) })).status).to.equal(200);
    });

    it('deletes with kind null, freeing the handle', async function () {
      const user = await register();
      await call('POST', DRAFT_SET, { token: user.token, json: draftPusher() });
      const reply = await call('POST', DRAFT_SET, { token: user.token, json: { kind: null, app_id: draftPusher().app_id, pushkey: draftPusher().pushkey } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
      expect((await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'new' }) })).status).to.equal(200);
    });

    it('answers 200 {} to deleting a pusher that does not exist', async function () {
      const user = await register();
      const reply = await call('POST', DRAFT_SET, { token: user.token, json: { kind: null, app_id: 'x', pushkey: 'y' } });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal({});
    });

    it('refuses a delete without pushkey, app_id or kind', async function () {
      const user = await register();
      for (const body of [{ kind: null, app_id: 'x' }, { kind: null, pushkey: 'y' }, { app_id: 'x', pushkey: 'y' }]) {
        expectError(await call('POST', DRAFT_SET, { token: user.token, json: body }), 400, 'M_MISSING_PARAM');
      }
    });

    it('lets exactly one of 20 parallel claims on one handle win', async function () {
      const user = await register();
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: `race-${i}`, instance_handle: 'contested' }) })),
      );
      const winners = replies.filter((r) => r.status === 200);
      expect(winners).to.have.length(1);
      for (const loser of replies.filter((r) => r.status !== 200)) expectError(loser, 400, 'M_INVALID_PARAM');
      expectError(await call('POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'late', instance_handle: 'contested' }) }), 400, 'M_INVALID_PARAM');
    });
  });

  describe('malformed requests', function () {
    let token: string;
    before(async function () {
      token = (await register()).token;
    });

    const deep = `{"kind":"http","data":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    interface Row {
      name: string;
      method?: string;
      path?: string;
      raw?: string | Uint8Array<ArrayBuffer>;
      headers?: Record<string, string>;
      status: number;
      errcode: string;
    }
    const rows: Row[] = [
      { name: 'not JSON', raw: '{"kind": http', status: 400, errcode: 'M_NOT_JSON' },
      { name: 'empty body', raw: '', status: 400, errcode: 'M_NOT_JSON' },
      { name: 'invalid UTF-8', raw: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), status: 400, errcode: 'M_NOT_JSON' },
      { name: 'garbage with a text/plain content-type', raw: 'hello', headers: { 'Content-Type': 'text/plain' }, status: 400, errcode: 'M_NOT_JSON' },
      { name: 'a JSON array', raw: '[]', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'a JSON string', raw: '"x"', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'JSON null', raw: 'null', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'a JSON number', raw: '42', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'deeply nested JSON', raw: deep, status: 400, errcode: 'M_BAD_JSON' },
      { name: 'a number beyond double range', raw: JSON.stringify(v1Pusher()).replace('"lang":"en"', '"lang":"en","n":1e999'), status: 400, errcode: 'M_BAD_JSON' },
      { name: '__proto__ smuggling the required fields', raw: '{"__proto__":{"kind":"http","app_id":"a","pushkey":"p"}}', status: 400, errcode: 'M_MISSING_PARAM' },
      { name: 'a body over the size cap', raw: 'x'.repeat(1024 * 1024), status: 413, errcode: 'M_TOO_LARGE' },
      { name: 'a draft body that is not JSON', path: DRAFT_SET, raw: '{', status: 400, errcode: 'M_NOT_JSON' },
      { name: 'a draft body that is an array', path: DRAFT_SET, raw: '[1]', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'register with a body that is not JSON', path: '/_matrix/client/v3/register', raw: 'nope', status: 400, errcode: 'M_NOT_JSON' },
      { name: 'login with a wrong field type', path: '/_matrix/client/v3/login', raw: '{"type":"m.login.password","password":1,"user":"x"}', status: 400, errcode: 'M_BAD_JSON' },
      { name: 'GET on pushers/set', method: 'GET', status: 405, errcode: 'M_UNRECOGNIZED' },
      { name: 'PUT on pushers/set', method: 'PUT', raw: '{}', status: 405, errcode: 'M_UNRECOGNIZED' },
      { name: 'an unknown HTTP method', method: 'FROB', status: 405, errcode: 'M_UNRECOGNIZED' },
      { name: 'an unknown path', method: 'GET', path: '/_matrix/client/v3/nothing', status: 404, errcode: 'M_UNRECOGNIZED' },
      { name: 'an unknown path with a query string', method: 'GET', path: '/_matrix/client/v3/nothing?a=b', status: 404, errcode: 'M_UNRECOGNIZED' },
      { name: 'a path outside /_matrix', method: 'GET', path: '/', status: 404, errcode: 'M_UNRECOGNIZED' },
      { name: 'a trailing slash', method: 'GET', path: '/_matrix/client/v3/pushers/', status: 404, errcode: 'M_UNRECOGNIZED' },
      { name: 'a malformed percent-escape', method: 'GET', path: '/_matrix/%zz', status: 404, errcode: 'M_UNRECOGNIZED' },
    ];
    for (const row of rows) {
      it(`answers ${row.status} ${row.errcode} to ${row.name}`, async function () {
        const reply = await call(row.method ?? 'POST', row.path ?? V1_SET, { token, raw: row.raw, headers: row.headers });
        expectError(reply, row.status, row.errcode);
      });
    }

    it('accepts a query string on a known path', async function () {
      const reply = await call('GET', `${V1_GET}?unused=1&also=%zz`, { token });
      expect(reply.status).to.equal(200);
    });

    it('is still serving after all of the above', async function () {
      expect((await call('GET', '/_matrix/client/versions')).status).to.equal(200);
    });
  });
});
