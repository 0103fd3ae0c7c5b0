/**
 * A real client against the reference server: matrix-js-sdk, the Matrix
 * project's own client library, registers, logs in and manages pushers
 * through its own methods. Nothing here builds a request by hand, so the
 * reference server is judged by software no one in this project wrote.
 *
 * matrix-js-sdk is pinned to 37.5.0, the newest release whose engines field
 * accepts Node 20 (37.6.0 and later require Node >= 22).
 */
import { expect } from 'chai';
import {
  createClient,
  InteractiveAuth,
  MatrixError,
  Method,
  type IPusher,
  type IPusherRequest,
  type MatrixClient,
  type RegisterResponse,
} from 'matrix-js-sdk';
// Not re-exported from the package root; the package has no "exports" map, so the file is importable.
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { createServer, type RunningServer } from '../reference-server/index.js';

let server: RunningServer;
/** Every client made here, stopped in after(). */
const clients: MatrixClient[] = [];
/** The SDK's global logger (loglevel underneath), and its level before the tests. */
const levelled = sdkLogger as unknown as { getLevel(): number; setLevel(level: number | 'silent', persist?: boolean): void };
let savedLevel: number;

let userCounter = 0;
function uniqueName(): string {
  userCounter += 1;
  return `sdk${process.pid}-${userCounter}`;
}

function client(credentials: { accessToken?: string; userId?: string; deviceId?: string } = {}): MatrixClient {
  const made = createClient({ baseUrl: server.url, ...credentials });
  clients.push(made);
  return made;
}

/** Resolves to the rejection reason, or fails the test if the promise resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('the SDK call succeeded, but an error was expected');
}

function expectMatrixError(error: unknown, status: number, errcode: string): MatrixError {
  expect(error, String(error)).to.be.instanceOf(MatrixError);
  const matrixError = error as MatrixError;
  expect(matrixError.httpStatus, JSON.stringify(matrixError.data)).to.equal(status);
  expect(matrixError.errcode, JSON.stringify(matrixError.data)).to.equal(errcode);
  expect(matrixError.data.error, 'a human-readable "error" string').to.be.a('string').and.not.equal('');
  return matrixError;
}

/**
 * Registration as the SDK documents it: InteractiveAuth drives the
 * user-interactive auth, calling doRequest first without auth, reading the
 * 401's flows and session from the MatrixError, and completing the
 * m.login.dummy stage by itself.
 */
async function register(username: string, password: string): Promise<RegisterResponse> {
  const anonymous = client();
  const stages: string[] = [];
  const auth = new InteractiveAuth<RegisterResponse>({
    matrixClient: anonymous,
    doRequest: (authDict) => anonymous.registerRequest({ username, password, ...(authDict === null ? {} : { auth: authDict }) }),
    // Only called for stages that need the user; m.login.dummy never should.
    stateUpdated: (stage) => stages.push(stage),
    requestEmailToken: () => Promise.reject(new Error('no email stage was offered')),
  });
  const registered = await auth.attemptAuth();
  expect(stages, 'stages InteractiveAuth had to hand to the user').to.deep.equal([]);
  return registered;
}

/** A fresh user, logged in through the SDK, as a client holding that login's credentials. */
async function loggedInClient(): Promise<MatrixClient> {
  const username = uniqueName();
  const password = `pw-${username}`;
  await register(username, password);
  const login = await client().loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password });
  return client({ accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
}

/** The SDK's typing of pusher data has no index signature; custom keys go through a wider variable. */
function pusherData(data: { url?: string; format?: string; [key: string]: unknown }): IPusher['data'] {
  return data;
}

function byPushkey(pushers: readonly IPusher[]): IPusher[] {
  return [...pushers].sort((a, b) => (a.pushkey < b.pushkey ? -1 : a.pushkey > b.pushkey ? 1 : 0));
}

/** What the server should list for a pusher that was set: the request without `append`. */
function listed(request: IPusherRequest): IPusher {
  const { append: _append, ...pusher } = request;
  return pusher;
}

/** The key getPushers() fills in on servers without MSC3881 (remote push toggling). */
const MSC3881_ENABLED = 'org.matrix.msc3881.enabled';

/** GET /pushers through the SDK's own HTTP layer, without getPushers()'s client-side additions. */
async function rawPushers(sdk: MatrixClient): Promise<IPusher[]> {
  const body = await sdk.http.authedRequest<{ pushers: IPusher[] }>(Method.Get, '/pushers');
  return body.pushers;
}

describe('matrix-js-sdk against the reference server', function () {
  this.timeout(5000);

  before(async () => {
    savedLevel = levelled.getLevel();
    // InteractiveAuth logs its chosen flow through the global logger; nothing here needs it.
    levelled.setLevel('silent', false);
    server = await createServer({ port: 0 });
  });

  after(async () => {
    for (const made of clients) made.stopClient();
    levelled.setLevel(savedLevel, false);
    await server?.close();
  });

  it('sees the first /register answer as a 401 MatrixError holding the session and the m.login.dummy flow', async () => {
    const error = await rejection(client().registerRequest({ username: uniqueName(), password: 'secret' }));
    expect(error).to.be.instanceOf(MatrixError);
    const { httpStatus, data } = error as MatrixError;
    expect(httpStatus).to.equal(401);
    expect(data.session, 'data.session').to.be.a('string').and.not.equal('');
    expect(data.flows, 'data.flows').to.deep.include({ stages: ['m.login.dummy'] });
  });

  it('registers with InteractiveAuth over m.login.dummy, then logs in with m.login.password', async () => {
    const username = uniqueName();
    const registered = await register(username, 'correct horse');
    expect(registered.user_id).to.equal(`@${username}:localhost`);
    expect(registered.access_token, 'access_token').to.be.a('string');
    expect(registered.device_id, 'device_id').to.be.a('string');

    const login = await client().loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: 'correct horse' });
    expect(login.user_id).to.equal(registered.user_id);
    expect(login.device_id, 'a login makes a new device').to.not.equal(registered.device_id);

    const whoami = await client({ accessToken: login.access_token }).whoami();
    expect(whoami.user_id).to.equal(registered.user_id);
    expect(whoami.device_id).to.equal(login.device_id);

    const refused = await rejection(client().loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: 'wrong' }));
    expectMatrixError(refused, 403, 'M_FORBIDDEN');
  });

  it('sets two pushers, lists them as sent, updates one in place and removes the other', async () => {
    const sdk = await loggedInClient();
    expect((await sdk.getPushers()).pushers, 'a new user has no pushers').to.deep.equal([]);

    const phone: IPusherRequest = {
      kind: 'http',
      app_id: 'com.example.sdk.phone',
      pushkey: 'phone-token-1',
      app_display_name: 'SDK phone',
      device_display_name: 'Pixel',
      profile_tag: 'tag-phone',
      lang: 'en-GB',
      data: pusherData({
        url: 'https://push.example.com/_matrix/push/v1/notify',
        format: 'event_id_only',
        'com.example.custom': { nested: [1, 'two', null], flag: true },
      }),
      append: true,
    };
    const tablet: IPusherRequest = {
      kind: 'http',
      app_id: 'com.example.sdk.tablet',
      pushkey: 'tablet-token-1',
      app_display_name: 'SDK tablet',
      device_display_name: 'iPad',
      lang: 'fr',
      data: pusherData({ url: 'https://push.example.org/_matrix/push/v1/notify', 'org.example.extra': 'kept' }),
    };
    expect(await sdk.setPusher(phone)).to.deep.equal({});
    expect(await sdk.setPusher(tablet)).to.deep.equal({});

    // The server lists every field as sent, and nothing else.
    expect(byPushkey(await rawPushers(sdk))).to.deep.equal([listed(phone), listed(tablet)]);
    // getPushers() adds "org.matrix.msc3881.enabled": true to each pusher when /versions does not
    // advertise org.matrix.msc3881 (the reference server advertises no unstable features); every
    // other field is the server's.
    const seen = byPushkey((await sdk.getPushers()).pushers);
    expect(seen).to.deep.equal([
      { ...listed(phone), [MSC3881_ENABLED]: true },
      { ...listed(tablet), [MSC3881_ENABLED]: true },
    ]);

    // Same app_id and pushkey: the pusher is replaced, not added.
    const phoneUpdated: IPusherRequest = {
      kind: 'http',
      app_id: phone.app_id,
      pushkey: phone.pushkey,
      app_display_name: 'SDK phone (renamed)',
      device_display_name: 'Pixel 9',
      lang: 'de',
      data: pusherData({ url: 'https://push2.example.com/_matrix/push/v1/notify', format: 'event_id_only', 'com.example.custom': 'v2' }),
      append: true,
    };
    await sdk.setPusher(phoneUpdated);
    expect(byPushkey(await rawPushers(sdk)), 'after the update').to.deep.equal([listed(phoneUpdated), listed(tablet)]);

    // removePusher sends kind: null.
    expect(await sdk.removePusher(tablet.pushkey, tablet.app_id)).to.deep.equal({});
    expect((await sdk.getPushers()).pushers, 'after removing the tablet pusher').to.deep.equal([{ ...listed(phoneUpdated), [MSC3881_ENABLED]: true }]);

    // Removing again is still a success, and leaves the rest alone.
    expect(await sdk.removePusher(tablet.pushkey, tablet.app_id)).to.deep.equal({});
    await sdk.removePusher(phoneUpdated.pushkey, phoneUpdated.app_id);
    expect(await rawPushers(sdk), 'after removing both').to.deep.equal([]);
  });

  it('gets 400 M_INVALID_PARAM for an app_id of 65 characters, and 64 is accepted', async () => {
    const sdk = await loggedInClient();
    const pusher = (appId: string): IPusherRequest => ({
      kind: 'http',
      app_id: appId,
      pushkey: 'limit-token',
      app_display_name: 'SDK limits',
      device_display_name: 'Test device',
      lang: 'en',
      data: { url: 'https://push.example.com/_matrix/push/v1/notify' },
    });

    const tooLong = 'a'.repeat(65);
    const error = expectMatrixError(await rejection(sdk.setPusher(pusher(tooLong))), 400, 'M_INVALID_PARAM');
    expect(error.data.error).to.match(/app_id/);
    expect(await rawPushers(sdk), 'a refused pusher is not stored').to.deep.equal([]);

    const longest = 'a'.repeat(64);
    await sdk.setPusher(pusher(longest));
    expect((await rawPushers(sdk)).map((p) => p.app_id)).to.deep.equal([longest]);
  });
});
