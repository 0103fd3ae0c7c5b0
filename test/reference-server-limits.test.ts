import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { createServer, DEFAULT_CONNECTION_LIMITS, DEFAULT_LIMITS, type ReferenceServerOptions, type RunningServer } from '../reference-server/index.js';

/**
 * The reference server's caps, each shown answered with its Matrix error on a
 * server started with small caps, and the server still serving afterwards.
 * Everything listens on 127.0.0.1, port 0; every loop has a fixed count and every
 * wait a deadline.
 */

const matrixErrorSchema: unknown = JSON.parse(readFileSync(new URL('../../spec/schemas/matrix-error.json', import.meta.url), 'utf8'));
const isMatrixError = new Ajv().compile(matrixErrorSchema as object);

interface Reply {
  status: number;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

interface CallOptions {
  token?: string;
  json?: unknown;
  raw?: string;
}

/** One request on a connection of its own, closed afterwards, with a deadline. */
function call(server: RunningServer, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const payload = options.raw ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
  const headers: Record<string, string | number> = { Connection: 'close' };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Left as text: the assertions will say what was wrong with it.
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function expectError(reply: Reply, status: number, errcode: string): void {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
  expect(isMatrixError(reply.body), `not a Matrix error: ${JSON.stringify(reply.body)}`).to.equal(true);
  expect(reply.body).to.have.property('errcode', errcode);
  expect((reply.body as { error: string }).error).to.be.a('string').that.is.not.empty;
}

/** 403 M_RESOURCE_LIMIT_EXCEEDED with the admin_contact the spec requires for that code. */
function expectFull(reply: Reply, adminContact = DEFAULT_LIMITS.adminContact): void {
  expectError(reply, 403, 'M_RESOURCE_LIMIT_EXCEEDED');
  expect(reply.body).to.have.property('admin_contact', adminContact);
}

let nameCounter = 0;
function uniqueName(): string {
  nameCounter += 1;
  return `lim${process.pid}-${nameCounter}`;
}

interface User {
  name: string;
  password: string;
  userId: string;
  token: string;
}

async function startRegistration(server: RunningServer, body: Record<string, unknown>): Promise<string> {
  const first = await call(server, 'POST', '/_matrix/client/v3/register', { json: body });
  expect(first.status, JSON.stringify(first.body)).to.equal(401);
  return (first.body as { session: string }).session;
}

async function register(server: RunningServer, name = uniqueName()): Promise<User> {
  const password = 'secret';
  const session = await startRegistration(server, { username: name, password });
  const done = await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: name, password, auth: { type: 'm.login.dummy', session } } });
  expect(done.status, JSON.stringify(done.body)).to.equal(200);
  const { user_id: userId, access_token: token } = done.body as { user_id: string; access_token: string };
  return { name, password, userId, token };
}

function login(server: RunningServer, user: User, extra: Record<string, unknown> = {}): Promise<Reply> {
  return call(server, 'POST', '/_matrix/client/v3/login', { json: { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.name }, password: user.password, ...extra } });
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
  return { ...v1Pusher(), instance_handle: `h-${String(overrides.pushkey ?? 'pk-1')}`, ...overrides };
}

async function listPushers(server: RunningServer, user: User): Promise<Array<Record<string, unknown>>> {
  const reply = await call(server, 'GET', V1_GET, { token: user.token });
  expect(reply.status).to.equal(200);
  return (reply.body as { pushers: Array<Record<string, unknown>> }).pushers;
}

async function expectServing(server: RunningServer, user?: User): Promise<void> {
  expect((await call(server, 'GET', '/_matrix/client/versions')).status).to.equal(200);
  if (user !== undefined) expect((await call(server, 'GET', '/_matrix/client/v3/account/whoami', { token: user.token })).status).to.equal(200);
}

/** `data` whose JSON is exactly `bytes` UTF-8 bytes long. */
function dataOfSize(bytes: number, pad = 'x'): Record<string, unknown> {
  const base = { url: GATEWAY, pad: '' };
  const room = bytes - Buffer.byteLength(JSON.stringify(base));
  const unit = Buffer.byteLength(pad);
  if (room < 0 || room % unit !== 0) throw new Error(`cannot pad data to ${bytes} bytes with ${pad}`);
  const data = { url: GATEWAY, pad: pad.repeat(room / unit) };
  expect(Buffer.byteLength(JSON.stringify(data))).to.equal(bytes);
  return data;
}

/** Servers started by a describe block, all closed in its after(). */
function serverPool(): { start(options: ReferenceServerOptions): Promise<RunningServer>; closeAll(): Promise<void> } {
  const servers: RunningServer[] = [];
  return {
    async start(options) {
      const server = await createServer({ port: 0, host: '127.0.0.1', ...options });
      servers.push(server);
      return server;
    },
    async closeAll() {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}

describe('reference server limits', function () {
  const pool = serverPool();
  after(async function () {
    await pool.closeAll();
  });

  describe('options', function () {
    it('has the documented defaults', function () {
      expect(DEFAULT_LIMITS).to.deep.equal({
        maxUsers: 10_000,
        maxSessions: 100_000,
        maxPushersPerUser: 100,
        maxPusherDataBytes: 8 * 1024,
        maxPusherBytes: 16 * 1024,
        maxPusherStorageBytes: 32 * 1024 * 1024,
        adminContact: 'mailto:admin@localhost',
      });
      expect(DEFAULT_CONNECTION_LIMITS).to.deep.equal({
        maxConnections: 256,
        maxConnectionsPerAddress: 128,
        maxHeaderBytes: 16 * 1024,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5_000,
        idleTimeoutMs: 30_000,
      });
    });

    it('refuses caps that are not positive integers or Infinity, and timeouts out of order', async function () {
      for (const bad of [{ maxUsers: 0 }, { maxSessions: -1 }, { maxPushersPerUser: 1.5 }, { maxPusherDataBytes: Number.NaN }, { maxConnections: 0 }, { idleTimeoutMs: Infinity }, { headersTimeoutMs: 2000, requestTimeoutMs: 1000 }]) {
        let error: unknown;
        try {
          await pool.start(bad);
        } catch (e) {
          error = e;
        }
        expect(error, JSON.stringify(bad)).to.be.instanceOf(RangeError);
      }
      // Infinity lifts a cap.
      const open = await pool.start({ maxUsers: Infinity, maxPushersPerUser: Infinity, maxConnections: Infinity });
      await register(open);
    });
  });

  describe('users', function () {
    const adminContact = 'mailto:ops@example.org';
    let server: RunningServer;
    let pendingSession: string;
    const users: User[] = [];
    before(async function () {
      server = await pool.start({ maxUsers: 3, adminContact });
      // A registration begun before the server fills up, to be completed after.
      pendingSession = await startRegistration(server, {});
      for (let i = 0; i < 3; i += 1) users.push(await register(server));
    });

    it('answers 403 M_RESOURCE_LIMIT_EXCEEDED with admin_contact at the first request once full', async function () {
      expectFull(await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: uniqueName(), password: 'x' } }), adminContact);
      expectFull(await call(server, 'POST', '/_matrix/client/r0/register', { json: { inhibit_login: true } }), adminContact);
    });

    it('refuses to complete a registration begun before it filled up, creating no user', async function () {
      const name = uniqueName();
      const done = await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: name, password: 'pw', auth: { type: 'm.login.dummy', session: pendingSession } } });
      expectFull(done, adminContact);
      expectError(await login(server, { name, password: 'pw', userId: '', token: '' }), 403, 'M_FORBIDDEN');
    });

    it('still tells a taken name apart, and serves the users it has', async function () {
      const [first] = users;
      if (first === undefined) throw new Error('no users registered');
      expectError(await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: first.name } }), 400, 'M_USER_IN_USE');
      expect((await login(server, first)).status).to.equal(200);
      expect((await call(server, 'POST', V1_SET, { token: first.token, json: v1Pusher() })).status).to.equal(200);
      await expectServing(server, first);
    });
  });

  describe('sessions (access tokens)', function () {
    let server: RunningServer;
    let alice: User;
    let second: string;
    before(async function () {
      server = await pool.start({ maxSessions: 3 });
      alice = await register(server);
      for (let i = 0; i < 2; i += 1) {
        const reply = await login(server, alice);
        expect(reply.status).to.equal(200);
        second = (reply.body as { access_token: string }).access_token;
      }
    });

    it('refuses a login past the cap with 403 M_RESOURCE_LIMIT_EXCEEDED, but a wrong password still with M_FORBIDDEN', async function () {
      expectFull(await login(server, alice));
      expectError(await login(server, { ...alice, password: 'wrong' }), 403, 'M_FORBIDDEN');
    });

    it('refuses a registration that would log in, but not one with inhibit_login', async function () {
      expectFull(await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: uniqueName(), password: 'pw' } }));
      const name = uniqueName();
      const session = await startRegistration(server, { username: name, password: 'pw', inhibit_login: true });
      const done = await call(server, 'POST', '/_matrix/client/v3/register', { json: { username: name, password: 'pw', inhibit_login: true, auth: { type: 'm.login.dummy', session } } });
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(done.body).not.to.have.property('access_token');
    });

    it('frees a place on POST /logout: the token stops working and a new login succeeds', async function () {
      const out = await call(server, 'POST', '/_matrix/client/v3/logout', { token: second, json: {} });
      expect(out.status).to.equal(200);
      expect(out.body).to.deep.equal({});
      expectError(await call(server, 'GET', '/_matrix/client/v3/account/whoami', { token: second }), 401, 'M_UNKNOWN_TOKEN');
      expect((await login(server, alice)).status).to.equal(200);
      expectFull(await login(server, alice));
      await expectServing(server, alice);
    });

    it('refuses a device_id longer than 512 characters with M_INVALID_PARAM', async function () {
      expectError(await login(server, alice, { device_id: 'D'.repeat(513) }), 400, 'M_INVALID_PARAM');
      expectError(await call(server, 'POST', '/_matrix/client/v3/register', { json: { device_id: 'D'.repeat(513) } }), 400, 'M_INVALID_PARAM');
    });
  });

  describe('pushers per user', function () {
    let server: RunningServer;
    before(async function () {
      server = await pool.start({ maxPushersPerUser: 3 });
    });

    it('refuses a new pusher past the cap, allows an update in place, and makes room on delete', async function () {
      const user = await register(server);
      for (let i = 0; i < 3; i += 1) expect((await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: `k${i}` }) })).status).to.equal(200);
      expectFull(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'k3' }) }));

      // At the cap, a re-set of an existing pusher is an update in place, not a new one.
      const update = await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'k1', lang: 'fr', device_display_name: 'Tablet' }) });
      expect(update.status, JSON.stringify(update.body)).to.equal(200);
      const pushers = await listPushers(server, user);
      expect(pushers.map((p) => p.pushkey)).to.deep.equal(['k0', 'k1', 'k2']);
      expect(pushers[1]).to.deep.equal(v1Pusher({ pushkey: 'k1', lang: 'fr', device_display_name: 'Tablet' }));

      expect((await call(server, 'POST', V1_SET, { token: user.token, json: { kind: null, app_id: v1Pusher().app_id, pushkey: 'k0' } })).status).to.equal(200);
      expect((await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'k3' }) })).status).to.equal(200);
      expect((await listPushers(server, user)).map((p) => p.pushkey)).to.deep.equal(['k1', 'k2', 'k3']);
      await expectServing(server, user);
    });

    it('counts each user, and each edition, apart', async function () {
      const [alice, bob] = [await register(server), await register(server)];
      for (let i = 0; i < 3; i += 1) expect((await call(server, 'POST', V1_SET, { token: alice.token, json: v1Pusher({ pushkey: `a${i}`, append: true }) })).status).to.equal(200);
      expectFull(await call(server, 'POST', V1_SET, { token: alice.token, json: v1Pusher({ pushkey: 'a3', append: true }) }));
      expect((await call(server, 'POST', V1_SET, { token: bob.token, json: v1Pusher({ pushkey: 'b0', append: true }) })).status).to.equal(200);
      for (let i = 0; i < 3; i += 1) expect((await call(server, 'POST', DRAFT_SET, { token: alice.token, json: draftPusher({ pushkey: `d${i}` }) })).status).to.equal(200);
      expectFull(await call(server, 'POST', DRAFT_SET, { token: alice.token, json: draftPusher({ pushkey: 'd3' }) }));
      // An update in place in the draft edition too.
      expect((await call(server, 'POST', DRAFT_SET, { token: alice.token, json: draftPusher({ pushkey: 'd1', lang: 'de' }) })).status).to.equal(200);
    });

    it("changes nothing when it refuses: another user's copy of the pusher survives a refused set without append", async function () {
      const [holder, full] = [await register(server), await register(server)];
      const shared = { app_id: 'org.example.shared', pushkey: 'shared-key' };
      expect((await call(server, 'POST', V1_SET, { token: holder.token, json: v1Pusher(shared) })).status).to.equal(200);
      for (let i = 0; i < 3; i += 1) expect((await call(server, 'POST', V1_SET, { token: full.token, json: v1Pusher({ pushkey: `f${i}`, append: true }) })).status).to.equal(200);
      expectFull(await call(server, 'POST', V1_SET, { token: full.token, json: v1Pusher(shared) }));
      expect((await listPushers(server, holder)).map((p) => p.pushkey)).to.deep.equal(['shared-key']);
    });
  });

  describe('pusher sizes', function () {
    let server: RunningServer;
    let user: User;
    before(async function () {
      server = await pool.start({ maxPusherDataBytes: 256, maxPusherBytes: 1024, maxBodyBytes: 4096 });
      user = await register(server);
    });

    it('accepts data of exactly the cap as serialised JSON and refuses one byte more with 400 M_TOO_LARGE', async function () {
      expect((await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'at-cap', data: dataOfSize(256) }) })).status).to.equal(200);
      expectError(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'over', data: dataOfSize(257) }) }), 400, 'M_TOO_LARGE');
      expectError(await call(server, 'POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'over', data: dataOfSize(257) }) }), 400, 'M_TOO_LARGE');
      expect((await call(server, 'POST', DRAFT_SET, { token: user.token, json: draftPusher({ pushkey: 'at-cap', data: dataOfSize(256) }) })).status).to.equal(200);
      expect((await listPushers(server, user)).map((p) => p.pushkey)).to.deep.equal(['at-cap']);
    });

    it('counts data in UTF-8 bytes of the JSON the server stores, not in characters', async function () {
      // 'é' is one character and two bytes.
      expect((await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'utf8-ok', data: dataOfSize(256, 'é') }) })).status).to.equal(200);
      expectError(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'utf8-over', data: dataOfSize(258, 'é') }) }), 400, 'M_TOO_LARGE');
      // An exponent the server writes out in full counts at its stored length: 1e21 → 1e+21, 1e20 → 21 digits.
      const numbers = { url: GATEWAY, n: Array.from({ length: 12 }, () => 1e20) };
      expect(JSON.stringify(numbers).length).to.be.above(256);
      expectError(await call(server, 'POST', V1_SET, { token: user.token, raw: JSON.stringify(v1Pusher({ pushkey: 'numbers' })).replace(/"data":\{[^}]*\}/, `"data":{"url":"${GATEWAY}","n":[${Array(12).fill('1e20').join(',')}]}`) }), 400, 'M_TOO_LARGE');
    });

    it('refuses a whole pusher over its cap with 400 M_TOO_LARGE, and a body over the read cap with 413', async function () {
      expectError(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'long-name', device_display_name: 'd'.repeat(1024) }) }), 400, 'M_TOO_LARGE');
      expectError(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: 'huge', device_display_name: 'd'.repeat(5000) }) }), 413, 'M_TOO_LARGE');
      expect((await listPushers(server, user)).map((p) => p.pushkey)).to.deep.equal(['at-cap', 'utf8-ok']);
      await expectServing(server, user);
    });
  });

  describe('pusher storage', function () {
    it('is one budget for the whole server: refused for any user and edition once full, with room again after a delete', async function () {
      // Each pusher here is charged its JSON (under 300 bytes) plus 2 KiB: four fit in 10 000 bytes, five do not.
      const server = await pool.start({ maxPusherStorageBytes: 10_000 });
      const [alice, bob] = [await register(server), await register(server)];
      for (const pushkey of ['a0', 'a1']) expect((await call(server, 'POST', V1_SET, { token: alice.token, json: v1Pusher({ pushkey, append: true }) })).status).to.equal(200);
      for (const pushkey of ['b0', 'b1']) expect((await call(server, 'POST', DRAFT_SET, { token: bob.token, json: draftPusher({ pushkey }) })).status).to.equal(200);
      expectFull(await call(server, 'POST', V1_SET, { token: bob.token, json: v1Pusher({ pushkey: 'b2', append: true }) }));
      expectFull(await call(server, 'POST', DRAFT_SET, { token: alice.token, json: draftPusher({ pushkey: 'a2' }) }));
      // An update in place that does not grow still fits.
      expect((await call(server, 'POST', V1_SET, { token: alice.token, json: v1Pusher({ pushkey: 'a0', lang: 'fr', append: true }) })).status).to.equal(200);

      expect((await call(server, 'POST', DRAFT_SET, { token: bob.token, json: { kind: null, app_id: v1Pusher().app_id, pushkey: 'b0' } })).status).to.equal(200);
      expect((await call(server, 'POST', V1_SET, { token: bob.token, json: v1Pusher({ pushkey: 'b2', append: true }) })).status).to.equal(200);
      expect((await listPushers(server, bob)).map((p) => p.pushkey)).to.deep.equal(['b2']);
      await expectServing(server, bob);
    });
  });

  describe('connections', function () {
    let server: RunningServer;
    before(async function () {
      server = await pool.start({ maxConnections: 4, maxHeaderBytes: 2048, headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 200, idleTimeoutMs: 500 });
    });

    interface RawResult {
      /** Everything the server sent before the connection closed. */
      data: string;
      closedAfterMs: number;
    }

    /** A raw TCP connection that sends `send` (if any), then waits for the server to close it, within `deadlineMs`. */
    function rawConnection(send: string | undefined, deadlineMs: number, onSocket?: (socket: Socket) => void): Promise<RawResult> {
      return new Promise((resolve, reject) => {
        const started = performance.now();
        const socket = connect(server.port, '127.0.0.1', () => {
          if (send !== undefined) socket.write(send);
        });
        onSocket?.(socket);
        let data = '';
        const deadline = setTimeout(() => {
          socket.destroy();
          reject(new Error(`the server kept the connection open for more than ${deadlineMs} ms`));
        }, deadlineMs);
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (data += chunk));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(deadline);
          resolve({ data, closedAfterMs: performance.now() - started });
        });
      });
    }

    function bodyOf(raw: string): unknown {
      return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    }

    it('closes connections that send nothing after headersTimeout, with 408, and drops those past maxConnections', async function () {
      const idle = Array.from({ length: 4 }, () => rawConnection(undefined, 5_000));
      // Let the server accept the four before the fifth arrives (same process, so one short wait is enough).
      await new Promise((resolve) => setTimeout(resolve, 100));
      const fifth = await rawConnection('GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
      expect(fifth.data, 'a connection past maxConnections is closed unanswered').to.equal('');
      expect(fifth.closedAfterMs).to.be.below(250);

      for (const result of await Promise.all(idle)) {
        expect(result.closedAfterMs).to.be.within(250, 3_000);
        expect(result.data).to.match(/^HTTP\/1\.1 408 /);
        const body = bodyOf(result.data);
        expect(isMatrixError(body), JSON.stringify(body)).to.equal(true);
      }
      await expectServing(server);
    });

    it('answers a connection past the limit of one client address with 429 M_LIMIT_EXCEEDED and a wait, then closes it', async function () {
      const limited = await pool.start({ maxConnectionsPerAddress: 2, keepAliveTimeoutMs: 5_000 });
      const request = 'GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n';
      // Two connections, each answered once and kept open: the server has counted both.
      const held = await Promise.all(
        [1, 2].map(
          () =>
            new Promise<Socket>((resolve) => {
              const socket = connect(limited.port, '127.0.0.1', () => socket.write(request));
              socket.once('data', () => resolve(socket));
            }),
        ),
      );
      try {
        const third = await new Promise<RawResult>((resolve) => {
          const started = performance.now();
          let data = '';
          const socket = connect(limited.port, '127.0.0.1', () => socket.write(request));
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => (data += chunk));
          socket.on('error', () => undefined);
          socket.on('close', () => resolve({ data, closedAfterMs: performance.now() - started }));
        });
        expect(third.data).to.match(/^HTTP\/1\.1 429 /);
        expect(third.data.toLowerCase()).to.include('connection: close');
        const body = bodyOf(third.data) as { errcode?: string; retry_after_ms?: number };
        expect(isMatrixError(body), JSON.stringify(body)).to.equal(true);
        expect(body.errcode).to.equal('M_LIMIT_EXCEEDED');
        expect(body.retry_after_ms).to.be.a('number');
      } finally {
        for (const socket of held) socket.destroy();
      }
    });

    it('closes a connection whose headers never finish after headersTimeout', async function () {
      const result = await rawConnection('GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n', 5_000);
      expect(result.closedAfterMs).to.be.within(250, 3_000);
      expect(result.data).to.match(/^HTTP\/1\.1 408 /);
    });

    it('answers a dripping body with 408 after requestTimeout', async function () {
      let drip: NodeJS.Timeout | undefined;
      const result = await rawConnection('POST /_matrix/client/v3/register HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{', 5_000, (socket) => {
        // One byte every 100 ms: never idle, never done; at most 50 bytes before the deadline.
        let sent = 0;
        drip = setInterval(() => {
          if (socket.writable && sent++ < 50) socket.write(' ');
        }, 100);
      });
      clearInterval(drip);
      expect(result.closedAfterMs).to.be.within(550, 3_000);
      expect(result.data).to.match(/^HTTP\/1\.1 408 /);
      expectError({ status: 408, body: bodyOf(result.data) }, 408, 'M_UNKNOWN');
    });

    it('answers headers over maxHeaderBytes with 431 M_TOO_LARGE', async function () {
      const result = await rawConnection(`GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(4096)}\r\n\r\n`, 5_000);
      expect(result.data).to.match(/^HTTP\/1\.1 431 /);
      expectError({ status: 431, body: bodyOf(result.data) }, 431, 'M_TOO_LARGE');
    });

    it('closes an idle kept-alive connection after keepAliveTimeout', async function () {
      const result = await rawConnection('GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
      expect(result.data).to.match(/^HTTP\/1\.1 200 /);
      // node adds one second to keepAliveTimeout.
      expect(result.closedAfterMs).to.be.below(3_000);
      await expectServing(server);
    });
  });

  describe('a client that does not read its answer', function () {
    it('is cut off after idleTimeoutMs, and the rest of the answer dropped', async function () {
      this.timeout(30_000);
      // A GET /pushers answer of about 24 MB, more than loopback socket buffers absorb.
      const count = 400;
      const server = await pool.start({ maxPushersPerUser: count, maxPusherBytes: 64 * 1024, maxPusherDataBytes: 64 * 1024, maxPusherStorageBytes: Infinity, idleTimeoutMs: 500 });
      const user = await register(server);
      const big = 'n'.repeat(60 * 1024);
      for (let i = 0; i < count; i += 1) {
        expect((await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher({ pushkey: `p${i}`, device_display_name: big }) })).status).to.equal(200);
      }

      const socket = connect(server.port, '127.0.0.1');
      let received = 0;
      let declared = Infinity;
      let closed = false;
      const done = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        if (received === 0) {
          const match = /content-length: (\d+)/i.exec(chunk.toString('latin1'));
          if (match?.[1] !== undefined) declared = Number(match[1]);
        }
        received += chunk.length;
      });
      socket.write(`GET ${V1_GET} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\n\r\n`);
      // Read the first bytes, then stop reading for well past idleTimeoutMs.
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      socket.resume();
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, 10_000));
      await Promise.race([done.then(() => (closed = true)), deadline]);
      socket.destroy();

      expect(closed, 'the server closed the connection').to.equal(true);
      expect(declared).to.be.above(count * big.length);
      expect(received, 'the answer was cut short').to.be.below(declared);
      await expectServing(server, user);
    });
  });
});
