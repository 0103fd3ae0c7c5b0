import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { createServer, type ReferenceServerOptions, type RunningServer } from '../reference-server/index.js';
import { HostPolicy, isLoopbackAddress } from '../reference-server/push/hosts.js';
import { makeCertificate } from '../src/areas/delivery/gateway/cert.js';

/**
 * The reference server's rooms and push delivery: the room routes and their
 * Matrix errors, unread counts and receipts, and notifications reaching a small
 * HTTPS gateway of the test's own (a certificate made for the test, which the
 * server is told not to verify), with retries, rejected pushkeys, deleted
 * pushers and bounded queues. Everything listens on loopback; every wait has a
 * deadline and every loop a fixed count.
 */

const ajv = new Ajv({ strict: false });
const isMatrixError = ajv.compile(JSON.parse(readFileSync(new URL('../../spec/schemas/matrix-error.json', import.meta.url), 'utf8')) as object);
const isNotification = ajv.compile(JSON.parse(readFileSync(new URL('../../spec/schemas/push-notification.json', import.meta.url), 'utf8')) as object);

const V3 = '/_matrix/client/v3';
const R0 = '/_matrix/client/r0';
const V1_SET = `${V3}/pushers/set`;
const DRAFT_SET = '/_matrix/client/api/v1/pushers/set';

interface Reply {
  status: number;
  body: unknown;
}

/** One request on a connection of its own, with a deadline. */
function call(server: RunningServer, method: string, path: string, options: { token?: string; json?: unknown; raw?: string } = {}): Promise<Reply> {
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
          // Left as text: the assertions say what was wrong with it.
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
}

function expectOk(reply: Reply): Record<string, unknown> {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
  return reply.body as Record<string, unknown>;
}

let nameCounter = 0;
interface User {
  userId: string;
  token: string;
}

async function register(server: RunningServer): Promise<User> {
  nameCounter += 1;
  const username = `dlv${process.pid}-${nameCounter}`;
  const first = await call(server, 'POST', `${V3}/register`, { json: { username, password: 'secret' } });
  const session = (first.body as { session: string }).session;
  const done = expectOk(await call(server, 'POST', `${V3}/register`, { json: { username, password: 'secret', auth: { type: 'm.login.dummy', session } } }));
  return { userId: done.user_id as string, token: done.access_token as string };
}

const rooms = {
  create: (s: RunningServer, u: User, body: unknown = {}, prefix = V3) => call(s, 'POST', `${prefix}/createRoom`, { token: u.token, json: body }),
  invite: (s: RunningServer, u: User, room: string, userId: string) => call(s, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/invite`, { token: u.token, json: { user_id: userId } }),
  join: (s: RunningServer, u: User, room: string, prefix = V3) => call(s, 'POST', `${prefix}/rooms/${encodeURIComponent(room)}/join`, { token: u.token, json: {} }),
  leave: (s: RunningServer, u: User, room: string) => call(s, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/leave`, { token: u.token, json: {} }),
  send: (s: RunningServer, u: User, room: string, txn: string, content: unknown = { msgtype: 'm.text', body: 'hello' }, type = 'm.room.message') =>
    call(s, 'PUT', `${V3}/rooms/${encodeURIComponent(room)}/send/${encodeURIComponent(type)}/${encodeURIComponent(txn)}`, { token: u.token, json: content }),
  receipt: (s: RunningServer, u: User, room: string, event: string, type = 'm.read') =>
    call(s, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/${encodeURIComponent(type)}/${encodeURIComponent(event)}`, { token: u.token, json: {} }),
};

/** A private room of `owner` that `others` joined; returns its id. */
async function roomWith(server: RunningServer, owner: User, ...others: User[]): Promise<string> {
  const created = expectOk(await rooms.create(server, owner, { preset: 'private_chat', invite: others.map((o) => o.userId) }));
  const roomId = created.room_id as string;
  for (const other of others) expectOk(await rooms.join(server, other, roomId));
  return roomId;
}

let txnCounter = 0;
/** Sends a message and returns its event id. */
async function message(server: RunningServer, user: User, roomId: string, body = 'hello'): Promise<string> {
  txnCounter += 1;
  const sent = expectOk(await rooms.send(server, user, roomId, `txn-${txnCounter}`, { msgtype: 'm.text', body }));
  return sent.event_id as string;
}

interface Poke {
  body: { notification: Record<string, unknown> & { devices: Array<Record<string, unknown>>; counts?: { unread?: number } } };
  pushkeys: string[];
}

type GatewayAnswer = { status: number; body?: unknown };

/**
 * A push gateway over HTTPS with a certificate made for the test. Each poke is
 * kept; `answer` decides what it gets (a promise holds the answer back). Tests
 * wait for pokes as they come (never by polling), and prove that nothing more
 * comes by asking the server whether its push queue is idle (pushIdle), never
 * by sleeping.
 */
class TestGateway {
  readonly pokes: Poke[] = [];
  answer: (poke: Poke) => GatewayAnswer | Promise<GatewayAnswer> = () => ({ status: 200, body: { rejected: [] } });
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(host = '127.0.0.1'): Promise<TestGateway> {
    const cert = makeCertificate();
    let gateway: TestGateway | undefined;
    const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let poke: Poke;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Poke['body'];
          poke = { body, pushkeys: body.notification.devices.map((d) => d.pushkey as string) };
        } catch {
          // Not a notification: kept with no pushkey, so that no wait takes it for one.
          poke = { body: { notification: { devices: [] } }, pushkeys: [] };
        }
        gateway?.pokes.push(poke);
        for (const listener of [...(gateway?.listeners ?? [])]) listener();
        void Promise.resolve(gateway?.answer(poke) ?? { status: 200 }).then((a) => {
          res.writeHead(a.status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(a.body ?? {}));
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    gateway = new TestGateway(server, `https://${host.includes(':') ? `[${host}]` : host}:${port}/_matrix/push/v1/notify`);
    return gateway;
  }

  pokesFor(pushkey: string): Poke[] {
    return this.pokes.filter((p) => p.pushkeys.includes(pushkey));
  }

  /** Resolves with what `found` returns once it returns something, checking at each poke; fails after `timeoutMs`. */
  until<T>(found: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = found();
        if (value === undefined) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`${what}: not within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** The first `count` pokes for the pushkey, as they come. */
  waitFor(pushkey: string, count = 1): Promise<Poke[]> {
    return this.until(() => (this.pokesFor(pushkey).length >= count ? this.pokesFor(pushkey).slice(0, count) : undefined), `${count} poke(s) for ${pushkey}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A bound on how long an answer is held back, which does not keep the process alive once the test is over. */
const bound = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

let pushkeyCounter = 0;
function pushkey(): string {
  pushkeyCounter += 1;
  return `pk-${process.pid}-${pushkeyCounter}`;
}

function v1Pusher(url: string, key: string, data: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind: 'http', app_id: 'org.example.app', pushkey: key, app_display_name: 'App', device_display_name: 'Phone', lang: 'en', data: { url, ...data } };
}

async function setPusher(server: RunningServer, user: User, url: string, key: string, data: Record<string, unknown> = {}): Promise<void> {
  expectOk(await call(server, 'POST', V1_SET, { token: user.token, json: v1Pusher(url, key, data) }));
}

/** A poke for the pushkey about this event, as it comes. */
function pokeAbout(gateway: TestGateway, key: string, eventId: string): Promise<Poke> {
  return gateway.until(() => gateway.pokesFor(key).find((p) => p.body.notification.event_id === eventId), `a poke for ${key} about ${eventId}`);
}

/** Servers started by a describe block, all closed in its after(). */
function serverPool(): { start(options?: ReferenceServerOptions): Promise<RunningServer>; closeAll(): Promise<void> } {
  const servers: RunningServer[] = [];
  return {
    async start(options = {}) {
      const server = await createServer({ port: 0, host: '127.0.0.1', pushTlsVerify: false, ...options });
      servers.push(server);
      return server;
    },
    async closeAll() {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}

describe('reference server rooms', function () {
  const pool = serverPool();
  let server: RunningServer;
  let alice: User;
  let bob: User;
  let carol: User;
  before(async function () {
    server = await pool.start();
    [alice, bob, carol] = [await register(server), await register(server), await register(server)];
  });
  after(async function () {
    await pool.closeAll();
  });

  it('creates a room under v3 and r0, with an id of this server', async function () {
    for (const prefix of [V3, R0]) {
      const created = expectOk(await rooms.create(server, alice, { preset: 'private_chat', name: 'A room' }, prefix));
      expect(created.room_id).to.be.a('string').and.match(/^![A-Za-z0-9_-]+:localhost$/);
      expectOk(await rooms.leave(server, alice, created.room_id as string));
    }
    // No body at all is the same as {} for join, leave and receipts, not for createRoom.
    expectError(await call(server, 'POST', `${V3}/createRoom`, { token: alice.token }), 400, 'M_NOT_JSON');
  });

  it('refuses malformed createRoom bodies with Matrix errors', async function () {
    const cases: Array<[unknown, number, string]> = [
      [{ preset: 'nonsense' }, 400, 'M_INVALID_PARAM'],
      [{ preset: 1 }, 400, 'M_BAD_JSON'],
      [{ visibility: 'hidden' }, 400, 'M_INVALID_PARAM'],
      [{ invite: 'not-a-list' }, 400, 'M_BAD_JSON'],
      [{ invite: [1] }, 400, 'M_BAD_JSON'],
      [{ invite: ['bob'] }, 400, 'M_INVALID_PARAM'],
      [{ invite: ['@someone:elsewhere.example'] }, 403, 'M_FORBIDDEN'],
      [{ invite: ['@nobody-at-all:localhost'] }, 404, 'M_NOT_FOUND'],
      [{ name: 5 }, 400, 'M_BAD_JSON'],
      [[], 400, 'M_BAD_JSON'],
    ];
    for (const [body, status, errcode] of cases) expectError(await rooms.create(server, alice, body), status, errcode);
    expectError(await call(server, 'POST', `${V3}/createRoom`, { token: alice.token, raw: '{nope' }), 400, 'M_NOT_JSON');
    expectError(await call(server, 'POST', `${V3}/createRoom`, { json: {} }), 401, 'M_MISSING_TOKEN');
  });

  it('lets only invited users join a private room, and anyone a public one', async function () {
    const privateRoom = expectOk(await rooms.create(server, alice, { preset: 'private_chat', invite: [bob.userId] })).room_id as string;
    expectError(await rooms.join(server, carol, privateRoom), 403, 'M_FORBIDDEN');
    expect(expectOk(await rooms.join(server, bob, privateRoom))).to.deep.equal({ room_id: privateRoom });
    // Joining again is no change, and succeeds.
    expect(expectOk(await rooms.join(server, bob, privateRoom))).to.deep.equal({ room_id: privateRoom });
    expectError(await rooms.invite(server, carol, privateRoom, carol.userId), 403, 'M_FORBIDDEN');
    expectError(await rooms.invite(server, alice, privateRoom, bob.userId), 403, 'M_FORBIDDEN');
    expectOk(await rooms.invite(server, bob, privateRoom, carol.userId));
    // POST /join/{roomIdOrAlias} takes an id (r0 too).
    expect(expectOk(await call(server, 'POST', `${R0}/join/${encodeURIComponent(privateRoom)}`, { token: carol.token, json: {} }))).to.deep.equal({ room_id: privateRoom });

    const publicRoom = expectOk(await rooms.create(server, alice, { preset: 'public_chat' })).room_id as string;
    expectOk(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(publicRoom)}/join`, { token: carol.token }));
    for (const [user, room] of [[alice, privateRoom], [bob, privateRoom], [carol, privateRoom], [alice, publicRoom], [carol, publicRoom]] as const) expectOk(await rooms.leave(server, user, room));
  });

  it('answers join, invite and leave on unknown rooms, aliases and malformed ids with Matrix errors', async function () {
    expectError(await rooms.join(server, alice, '!unknown:localhost'), 404, 'M_NOT_FOUND');
    expectError(await rooms.invite(server, alice, '!unknown:localhost', bob.userId), 404, 'M_NOT_FOUND');
    expectError(await rooms.leave(server, alice, '!unknown:localhost'), 404, 'M_NOT_FOUND');
    expectError(await call(server, 'POST', `${V3}/join/${encodeURIComponent('#alias:localhost')}`, { token: alice.token, json: {} }), 404, 'M_NOT_FOUND');
    expectError(await call(server, 'POST', `${V3}/join/not-a-room`, { token: alice.token, json: {} }), 400, 'M_INVALID_PARAM');
    expectError(await call(server, 'POST', `${V3}/rooms/%zz/join`, { token: alice.token, json: {} }), 400, 'M_INVALID_PARAM');
    expectError(await call(server, 'POST', `${V3}/rooms/!x:localhost/frobnicate`, { token: alice.token, json: {} }), 404, 'M_UNRECOGNIZED');
    expectError(await call(server, 'POST', `${V3}/rooms//join`, { token: alice.token, json: {} }), 404, 'M_UNRECOGNIZED');
    expectError(await call(server, 'GET', `${V3}/rooms/!x:localhost/send/m.room.message/t1`, { token: alice.token }), 405, 'M_UNRECOGNIZED');
    expectError(await call(server, 'PUT', `${V3}/rooms/!x:localhost/send/m.room.message`, { token: alice.token, json: {} }), 404, 'M_UNRECOGNIZED');
    const room = await roomWith(server, alice);
    expectError(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/invite`, { token: alice.token, json: {} }), 400, 'M_MISSING_PARAM');
    expectError(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/invite`, { token: alice.token, json: { user_id: 7 } }), 400, 'M_BAD_JSON');
    expectError(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/leave`, { token: alice.token, raw: '[]' }), 400, 'M_BAD_JSON');
    expectError(await rooms.leave(server, bob, room), 403, 'M_FORBIDDEN');
    expectOk(await rooms.leave(server, alice, room));
  });

  it('lets only members send; the same transaction gives the same event', async function () {
    const room = await roomWith(server, alice, bob);
    const first = expectOk(await rooms.send(server, alice, room, 'same-txn')).event_id as string;
    expect(first).to.match(/^\$[A-Za-z0-9_-]+$/);
    expect(expectOk(await rooms.send(server, alice, room, 'same-txn', { msgtype: 'm.text', body: 'different' })).event_id).to.equal(first);
    // Another user's transaction of the same name is another event.
    expect(expectOk(await rooms.send(server, bob, room, 'same-txn')).event_id).to.not.equal(first);
    expect(expectOk(await rooms.send(server, alice, room, 'other-txn')).event_id).to.not.equal(first);
    expectError(await rooms.send(server, carol, room, 'carol-txn'), 403, 'M_FORBIDDEN');
    expectError(await rooms.send(server, alice, '!unknown:localhost', 'x'), 404, 'M_NOT_FOUND');
    expectError(await rooms.send(server, alice, room, 'bad-body', 'not an object'), 400, 'M_BAD_JSON');
    expectError(await call(server, 'PUT', `${V3}/rooms/${encodeURIComponent(room)}/send/m.room.message/raw`, { token: alice.token, raw: 'nope' }), 400, 'M_NOT_JSON');
    expectError(await rooms.send(server, alice, room, 'long-type', {}, 'x'.repeat(256)), 400, 'M_INVALID_PARAM');
    // An invited user is not a member yet; one who left no longer is.
    expectOk(await rooms.invite(server, alice, room, carol.userId));
    expectError(await rooms.send(server, carol, room, 'carol-txn'), 403, 'M_FORBIDDEN');
    expectOk(await rooms.leave(server, carol, room));
    expectError(await rooms.join(server, carol, room), 403, 'M_FORBIDDEN');
    expectOk(await rooms.leave(server, bob, room));
    expectError(await rooms.send(server, bob, room, 'after-leave'), 403, 'M_FORBIDDEN');
    expectOk(await rooms.leave(server, alice, room));
    // Nobody is joined any more: the room is forgotten.
    expectError(await rooms.join(server, alice, room), 404, 'M_NOT_FOUND');
  });

  it('takes read receipts from members for events it keeps', async function () {
    const room = await roomWith(server, alice, bob);
    const event = await message(server, bob, room);
    expectOk(await rooms.receipt(server, alice, room, event));
    expectOk(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(event)}`, { token: alice.token }));
    expectOk(await rooms.receipt(server, alice, room, event, 'm.read.private'));
    expectOk(await rooms.receipt(server, alice, room, event, 'm.fully_read'));
    expectError(await rooms.receipt(server, alice, room, event, 'm.nonsense'), 400, 'M_INVALID_PARAM');
    expectError(await rooms.receipt(server, alice, room, '$unknown'), 404, 'M_NOT_FOUND');
    expectError(await rooms.receipt(server, carol, room, event), 403, 'M_FORBIDDEN');
    expectError(await call(server, 'POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(event)}`, { token: alice.token, json: { thread_id: 1 } }), 400, 'M_BAD_JSON');
    expectOk(await rooms.leave(server, bob, room));
    expectOk(await rooms.leave(server, alice, room));
  });

  describe('limits', function () {
    it('refuses a room past maxRoomsPerUser, a member past maxRoomMembers and a room past maxRooms, with M_RESOURCE_LIMIT_EXCEEDED', async function () {
      const small = await pool.start({ maxRoomsPerUser: 2, maxRoomMembers: 2, maxRooms: 3, adminContact: 'mailto:rooms@example.org' });
      const [a, b, c] = [await register(small), await register(small), await register(small)];
      const full = (reply: Reply): void => {
        expectError(reply, 403, 'M_RESOURCE_LIMIT_EXCEEDED');
        expect(reply.body).to.have.property('admin_contact', 'mailto:rooms@example.org');
      };
      const r1 = expectOk(await rooms.create(small, a, { invite: [b.userId] })).room_id as string;
      const r2 = expectOk(await rooms.create(small, a)).room_id as string;
      full(await rooms.create(small, a));
      // The room has two members (a joined, b invited): a third is refused.
      full(await rooms.invite(small, a, r1, c.userId));
      full(await rooms.create(small, c, { invite: [a.userId, b.userId] }));
      // b is in one room (invited); c's room takes the server to its three rooms.
      const r3 = expectOk(await rooms.create(small, c)).room_id as string;
      full(await rooms.create(small, b));
      // Leaving frees the places: r2 is forgotten once a leaves it.
      expectOk(await rooms.leave(small, a, r2));
      expectOk(await rooms.create(small, b));
      for (const [user, room] of [[c, r3], [b, r1], [a, r1]] as const) expectOk(await rooms.leave(small, user, room));
    });

    it('keeps the newest maxRoomEvents events: receipts for older ones are refused', async function () {
      const small = await pool.start({ maxRoomEvents: 2 });
      const [a, b] = [await register(small), await register(small)];
      const room = await roomWith(small, a, b);
      const first = await message(small, b, room);
      const second = await message(small, b, room);
      const third = await message(small, b, room);
      expectError(await rooms.receipt(small, a, room, first), 404, 'M_NOT_FOUND');
      expectOk(await rooms.receipt(small, a, room, second));
      expectOk(await rooms.receipt(small, a, room, third));
    });

    it('refuses caps that are not positive integers', async function () {
      for (const bad of [{ maxRooms: 0 }, { maxRoomsPerUser: -1 }, { maxRoomMembers: 1.5 }, { maxRoomEvents: Number.NaN }, { maxPushQueuePerPusher: 0 }, { maxPushQueueBytes: -5 }]) {
        let error: unknown;
        try {
          await pool.start(bad);
        } catch (e) {
          error = e;
        }
        expect(error, JSON.stringify(bad)).to.be.instanceOf(RangeError);
      }
    });
  });
});

describe('reference server push delivery', function () {
  this.timeout(30_000);
  const pool = serverPool();
  let gateway: TestGateway;
  let server: RunningServer;
  let alice: User;
  let bob: User;
  before(async function () {
    gateway = await TestGateway.start();
    server = await pool.start();
    [alice, bob] = [await register(server), await register(server)];
  });
  afterEach(function () {
    gateway.answer = () => ({ status: 200, body: { rejected: [] } });
  });
  after(async function () {
    await pool.closeAll();
    await gateway.close();
  });

  it('sends a message to every http pusher of the other members, as the Push Gateway API describes it', async function () {
    const key = pushkey();
    const before = Math.floor(Date.now() / 1000);
    await setPusher(server, alice, gateway.url, key, { format: 'full', 'org.example.custom': { nested: [1, 'two'] } });
    const room = await roomWith(server, alice, bob);
    const content = { msgtype: 'm.text', body: 'Hello' };
    const event = expectOk(await rooms.send(server, bob, room, `t-${key}`, content)).event_id as string;
    const poke = await pokeAbout(gateway, key, event);
    expect(isNotification(poke.body), JSON.stringify(isNotification.errors)).to.equal(true);
    const { devices, ...rest } = poke.body.notification;
    expect(rest).to.deep.equal({ event_id: event, room_id: room, type: 'm.room.message', sender: bob.userId, content, prio: 'high', counts: { unread: 1 } });
    expect(devices).to.have.length(1);
    const device = devices[0] as Record<string, unknown>;
    expect(device).to.include({ app_id: 'org.example.app', pushkey: key });
    expect(device.data).to.deep.equal({ format: 'full', 'org.example.custom': { nested: [1, 'two'] } });
    // A message in a room of two: .m.rule.room_one_to_one, whose actions set the default sound.
    expect(device.tweaks).to.deep.equal({ sound: 'default' });
    // Seconds, as the Push Gateway API says, and an integer.
    expect(device.pushkey_ts).to.be.a('number').that.satisfies(Number.isInteger);
    expect(device.pushkey_ts as number).to.be.within(before, Math.ceil(Date.now() / 1000));
    for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
  });

  it('sends only the ids, counts and devices for format event_id_only, and notifies draft pushers too', async function () {
    const key = pushkey();
    const draftKey = pushkey();
    await setPusher(server, alice, gateway.url, key, { format: 'event_id_only' });
    const draft = { kind: 'http', app_id: 'org.example.draft', pushkey: draftKey, instance_handle: draftKey.slice(-32), app_display_name: 'App', device_display_name: 'Phone', lang: 'en', data: { url: gateway.url } };
    expectOk(await call(server, 'POST', DRAFT_SET, { token: alice.token, json: draft }));
    const room = await roomWith(server, alice, bob);
    const event = await message(server, bob, room);
    const poke = await pokeAbout(gateway, key, event);
    expect(Object.keys(poke.body.notification).sort()).to.deep.equal(['counts', 'devices', 'event_id', 'prio', 'room_id']);
    expect(poke.body.notification.devices[0]?.data).to.deep.equal({ format: 'event_id_only' });
    const draftPoke = await pokeAbout(gateway, draftKey, event);
    expect(draftPoke.body.notification.devices[0]).to.include({ app_id: 'org.example.draft', pushkey: draftKey });
    expect(draftPoke.body.notification.devices[0]?.data).to.deep.equal({});
    for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
  });

  it('never notifies the sender, nor members who left, nor invited users', async function () {
    const aliceKey = pushkey();
    const bobKey = pushkey();
    const carol = await register(server);
    const carolKey = pushkey();
    await setPusher(server, alice, gateway.url, aliceKey);
    await setPusher(server, bob, gateway.url, bobKey);
    await setPusher(server, carol, gateway.url, carolKey);
    const room = await roomWith(server, alice, bob);
    expectOk(await rooms.invite(server, alice, room, carol.userId));
    const own = await message(server, alice, room);
    const reply = await message(server, bob, room);
    await pokeAbout(gateway, bobKey, own);
    await pokeAbout(gateway, aliceKey, reply);
    expectOk(await rooms.leave(server, alice, room));
    const afterLeave = await message(server, bob, room);
    await server.pushIdle();
    // Invites notify the invitee (.m.rule.invite_for_me); messages are what this test is about.
    const messages = (key: string): unknown[] => gateway.pokesFor(key).filter((p) => p.body.notification.type === 'm.room.message').map((p) => p.body.notification.event_id);
    expect(messages(aliceKey)).to.deep.equal([reply]);
    expect(messages(bobKey)).to.deep.equal([own]);
    expect(messages(carolKey)).to.deep.equal([]);
    expect(gateway.pokesFor(carolKey).map((p) => p.body.notification.type)).to.deep.equal(['m.room.member']);
    expect(afterLeave).to.be.a('string');
    expectOk(await rooms.leave(server, bob, room));
  });

  it('counts unread messages since the last read receipt, summed over the joined rooms', async function () {
    const key = pushkey();
    await setPusher(server, alice, gateway.url, key);
    const room = await roomWith(server, alice, bob);
    const unreadOf = async (roomId: string): Promise<number | undefined> => (await pokeAbout(gateway, key, await message(server, bob, roomId))).body.notification.counts?.unread;
    expect(await unreadOf(room)).to.equal(1);
    const second = await message(server, bob, room);
    expect((await pokeAbout(gateway, key, second)).body.notification.counts?.unread).to.equal(2);
    expectOk(await rooms.receipt(server, alice, room, second));
    expect(await unreadOf(room)).to.equal(1);
    // An older receipt changes nothing; the user's own messages never count.
    const third = await message(server, bob, room);
    expect((await pokeAbout(gateway, key, third)).body.notification.counts?.unread).to.equal(2);
    await message(server, alice, room);
    expectOk(await rooms.receipt(server, alice, room, second));
    expect(await unreadOf(room)).to.equal(3);
    // A second room adds its own; leaving a room takes its count away.
    const other = await roomWith(server, alice, bob);
    expect(await unreadOf(other)).to.equal(4);
    expectOk(await rooms.leave(server, alice, room));
    expect(await unreadOf(other)).to.equal(2);
    // A fully-read marker is not a read receipt.
    const last = await message(server, bob, other);
    await pokeAbout(gateway, key, last);
    expectOk(await rooms.receipt(server, alice, other, last, 'm.fully_read'));
    expect(await unreadOf(other)).to.equal(4);
    // A private read receipt is one: only the message sent since `last` is unread, and the next.
    expectOk(await rooms.receipt(server, alice, other, last, 'm.read.private'));
    expect(await unreadOf(other)).to.equal(2);
    for (const [user, r] of [[bob, room], [bob, other], [alice, other]] as const) expectOk(await rooms.leave(server, user, r));
  });

  it('deletes a pusher whose pushkey the gateway rejects, and sends nothing more to it', async function () {
    const key = pushkey();
    const kept = pushkey();
    gateway.answer = (poke) => ({ status: 200, body: { rejected: poke.pushkeys.filter((k) => k === key) } });
    await setPusher(server, alice, gateway.url, key);
    await setPusher(server, alice, gateway.url, kept);
    const room = await roomWith(server, alice, bob);
    const first = await message(server, bob, room);
    await pokeAbout(gateway, key, first);
    await pokeAbout(gateway, kept, first);
    // Idle: the rejection was answered and acted on.
    await server.pushIdle();
    const listed = ((expectOk(await call(server, 'GET', `${V3}/pushers`, { token: alice.token })).pushers as Array<{ pushkey: string }>) ?? []).map((p) => p.pushkey);
    expect(listed).to.include(kept).and.not.include(key);
    const second = await message(server, bob, room);
    await pokeAbout(gateway, kept, second);
    await server.pushIdle();
    expect(gateway.pokesFor(key)).to.have.length(1);
    for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
  });

  it('sends a notification again after a 500, with a back-off', async function () {
    const key = pushkey();
    let failures = 1;
    const times: number[] = [];
    gateway.answer = (poke) => {
      if (!poke.pushkeys.includes(key)) return { status: 200, body: { rejected: [] } };
      times.push(performance.now());
      if (failures > 0) {
        failures -= 1;
        return { status: 500, body: { errcode: 'M_UNKNOWN', error: 'told to fail' } };
      }
      return { status: 200, body: { rejected: [] } };
    };
    await setPusher(server, alice, gateway.url, key);
    const room = await roomWith(server, alice, bob);
    const event = await message(server, bob, room);
    const [first, second] = await gateway.waitFor(key, 2);
    expect([first?.body.notification.event_id, second?.body.notification.event_id]).to.deep.equal([event, event]);
    // The default first back-off is 0.5 s; the loop's clock may run a few ms behind when the timer is set.
    expect((times[1] ?? 0) - (times[0] ?? 0), 'the back-off before the second try').to.be.at.least(450);
    await server.pushIdle();
    expect(gateway.pokesFor(key), 'delivered: no third try').to.have.length(2);
    for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
  });

  it('gives up after five tries, waiting the back-off it is given before each, and at once on a 4xx', async function () {
    // The default back-off (0.5, 1, 2, 4 s) takes 7.5 s; the same doubling ten times sooner shows the same.
    const delays = [50, 100, 200, 400];
    const lines: string[] = [];
    const quick = await pool.start({ pushRetryDelaysMs: delays, log: (line) => lines.push(line) });
    const [a, b] = [await register(quick), await register(quick)];
    const failing = pushkey();
    const refused = pushkey();
    const times: number[] = [];
    gateway.answer = (poke) => {
      if (poke.pushkeys.includes(failing)) {
        times.push(performance.now());
        return { status: 503 };
      }
      if (poke.pushkeys.includes(refused)) return { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'no' } };
      return { status: 200, body: { rejected: [] } };
    };
    await setPusher(quick, a, gateway.url, failing);
    await setPusher(quick, a, gateway.url, refused);
    const room = await roomWith(quick, a, b);
    await message(quick, b, room);
    await quick.pushIdle();
    expect(gateway.pokesFor(failing)).to.have.length(5);
    expect(gateway.pokesFor(refused)).to.have.length(1);
    expect(lines.filter((l) => / try \d+ in \d+ ms$/.test(l)).map((l) => Number(/in (\d+) ms$/.exec(l)?.[1])), 'the back-off of each retry').to.deep.equal(delays);
    // Each try after its back-off, at the earliest (the loop's clock may run a few ms behind when a timer is set).
    times.slice(1).forEach((t, i) => expect(t - (times[i] as number), `the wait before try ${i + 2}`).to.be.at.least((delays[i] as number) - 10));
    expect(lines.some((l) => /gave up .* after 5 tries$/.test(l))).to.equal(true);
  });

  it('sends nothing more to a pusher deleted while notifications wait for it, and keeps each pusher in order', async function () {
    const key = pushkey();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    gateway.answer = async (poke) => {
      if (poke.pushkeys.includes(key)) await Promise.race([held, bound(5000)]);
      return { status: 200, body: { rejected: [] } };
    };
    try {
      await setPusher(server, alice, gateway.url, key);
      const room = await roomWith(server, alice, bob);
      const first = await message(server, bob, room);
      await pokeAbout(gateway, key, first);
      // The first is held at the gateway; the next two wait behind it.
      await message(server, bob, room);
      await message(server, bob, room);
      expectOk(await call(server, 'POST', V1_SET, { token: alice.token, json: { kind: null, app_id: 'org.example.app', pushkey: key } }));
      release();
      await server.pushIdle();
      expect(gateway.pokesFor(key).map((p) => p.body.notification.event_id)).to.deep.equal([first]);
      for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
    } finally {
      release();
    }
  });

  it('keeps at most maxPushQueuePerPusher notifications waiting for a pusher, dropping the oldest', async function () {
    const small = await pool.start({ maxPushQueuePerPusher: 2 });
    const [a, b] = [await register(small), await register(small)];
    const key = pushkey();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    gateway.answer = async (poke) => {
      if (poke.pushkeys.includes(key)) await Promise.race([held, bound(5000)]);
      return { status: 200, body: { rejected: [] } };
    };
    try {
      await setPusher(small, a, gateway.url, key);
      const room = await roomWith(small, a, b);
      const first = await message(small, b, room);
      await pokeAbout(gateway, key, first);
      const waiting: string[] = [];
      for (let i = 0; i < 5; i += 1) waiting.push(await message(small, b, room));
      release();
      await small.pushIdle();
      // In order, per pusher: the one in flight, then the two newest.
      expect(gateway.pokesFor(key).map((p) => p.body.notification.event_id)).to.deep.equal([first, ...waiting.slice(-2)]);
    } finally {
      release();
    }
  });

  it('drops new notifications past maxPushQueueBytes', async function () {
    // Room for two waiting notifications of this size (content, tweaks + 512 bytes each).
    const content = { msgtype: 'm.text', body: 'x'.repeat(400) };
    const cost = Buffer.byteLength(JSON.stringify(content)) + '{"sound":"default"}'.length + 512;
    const small = await pool.start({ maxPushQueueBytes: cost * 3 });
    const [a, b] = [await register(small), await register(small)];
    const key = pushkey();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    gateway.answer = async (poke) => {
      if (poke.pushkeys.includes(key)) await Promise.race([held, bound(5000)]);
      return { status: 200, body: { rejected: [] } };
    };
    try {
      await setPusher(small, a, gateway.url, key);
      const room = await roomWith(small, a, b);
      const sent: string[] = [];
      for (let i = 0; i < 6; i += 1) sent.push(expectOk(await rooms.send(small, b, room, `big-${i}`, content)).event_id as string);
      await pokeAbout(gateway, key, sent[0] as string);
      release();
      await small.pushIdle();
      // The one being sent counts too: three fit, the rest were dropped.
      expect(gateway.pokesFor(key).map((p) => p.body.notification.event_id)).to.deep.equal(sent.slice(0, 3));
    } finally {
      release();
    }
  });

  it('verifies gateway certificates unless pushTlsVerify is false', async function () {
    const lines: string[] = [];
    const verifying = await pool.start({ pushTlsVerify: true, pushRetryDelaysMs: [10, 10, 10, 10], log: (line) => lines.push(line) });
    const [a, b] = [await register(verifying), await register(verifying)];
    const key = pushkey();
    await setPusher(verifying, a, gateway.url, key);
    const room = await roomWith(verifying, a, b);
    await message(verifying, b, room);
    // The gateway's certificate is the test's own: no poke gets through the handshake, in five tries.
    await verifying.pushIdle();
    expect(gateway.pokesFor(key)).to.deep.equal([]);
    expect(lines.some((l) => /gave up .* after 5 tries$/.test(l)), lines.join('\n')).to.equal(true);
  });

  it('refuses draft pushers with a plain http:// URL, as v1 ones', async function () {
    const body = { kind: 'http', app_id: 'org.example.draft', pushkey: pushkey(), instance_handle: 'plain', app_display_name: 'App', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:1/_matrix/push/v1/notify' } };
    expectError(await call(server, 'POST', DRAFT_SET, { token: alice.token, json: body }), 400, 'M_INVALID_PARAM');
    expectError(await call(server, 'POST', V1_SET, { token: alice.token, json: v1Pusher('http://127.0.0.1:1/_matrix/push/v1/notify', pushkey()) }), 400, 'M_INVALID_PARAM');
  });

  it('sends to loopback hosts only, unless pushAllowHosts widens it', async function () {
    // localhost resolves to loopback: allowed. The gateway's certificate names it.
    const key = pushkey();
    const url = gateway.url.replace('127.0.0.1', 'localhost');
    await setPusher(server, alice, url, key);
    const room = await roomWith(server, alice, bob);
    const event = await message(server, bob, room);
    await pokeAbout(gateway, key, event);
    for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));

    const policy = new HostPolicy();
    for (const host of ['127.0.0.1', '127.1.2.3', '[::1]', '[::ffff:7f00:1]', 'localhost', 'LOCALHOST.']) expect(policy.check(host).allowed, host).to.equal(true);
    for (const host of ['10.0.0.1', '192.168.1.1', '[::2]', '[fe80::1]', 'push.example.org', 'localhost.example.org', '0.0.0.0']) expect(policy.check(host).allowed, host).to.equal(false);
    expect(policy.check('localhost')).to.deep.equal({ allowed: true, resolveCheck: true });
    expect(new HostPolicy(['push.example.org', '10.0.0.1']).check('PUSH.example.org').allowed).to.equal(true);
    expect(new HostPolicy(['push.example.org', '10.0.0.1']).check('10.0.0.1').allowed).to.equal(true);
    expect(new HostPolicy(['*']).check('anything.example').allowed).to.equal(true);
    expect(isLoopbackAddress('127.255.255.254')).to.equal(true);
    expect(isLoopbackAddress('128.0.0.1')).to.equal(false);
    expect(isLoopbackAddress('not an address')).to.equal(false);
  });

  it('sends nothing to a pusher on a host that is not allowed, says why in the log, and keeps serving', async function () {
    const lines: string[] = [];
    const logged = await pool.start({ log: (line) => lines.push(line) });
    const [a, b] = [await register(logged), await register(logged)];
    const key = pushkey();
    await setPusher(logged, a, 'https://push.example.org/_matrix/push/v1/notify', key);
    const room = await roomWith(logged, a, b);
    await message(logged, b, room);
    await logged.pushIdle();
    expect(lines.filter((l) => l.startsWith('push: not sending'))).to.deep.equal([`push: not sending to a v1 pusher of ${a.userId}: push.example.org is not localhost or a loopback address (see pushAllowHosts)`]);
    expect(lines.filter((l) => l.startsWith('push:') && !l.startsWith('push: not sending')), 'no try at all').to.deep.equal([]);
    expectOk(await call(logged, 'GET', `${V3}/account/whoami`, { token: a.token }));
  });

  it('sends to a gateway on IPv6 loopback', async function () {
    let v6: TestGateway;
    try {
      v6 = await TestGateway.start('::1');
    } catch {
      this.skip();
    }
    try {
      const key = pushkey();
      await setPusher(server, alice, v6.url, key);
      const room = await roomWith(server, alice, bob);
      const event = await message(server, bob, room);
      await pokeAbout(v6, key, event);
      for (const user of [bob, alice]) expectOk(await rooms.leave(server, user, room));
      expectOk(await call(server, 'POST', V1_SET, { token: alice.token, json: { kind: null, app_id: 'org.example.app', pushkey: key } }));
    } finally {
      await v6.close();
    }
  });
});
