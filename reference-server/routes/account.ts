import type { Accounts } from '../accounts.js';
import { isJsonObject, jsonType, type Json, type JsonObject } from '../json.js';
import { MAX_DEVICE_ID_LENGTH, resourceLimitExceeded, type Limits } from '../limits.js';
import { matrixError, ok, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route, type RouteContext } from './types.js';

const DUMMY = 'm.login.dummy';
const PASSWORD = 'm.login.password';

/** `versions`: what GET /_matrix/client/versions advertises. */
export function accountRoutes(accounts: Accounts, versions: readonly string[], limits: Limits): Route[] {
  const answer = { versions: [...versions], unstable_features: {} };
  const routes: Route[] = [{ method: 'GET', path: '/_matrix/client/versions', auth: false, body: false, handler: () => ok(answer) }];
  for (const prefix of CLIENT_PREFIXES) {
    routes.push(
      { method: 'POST', path: `${prefix}/register`, auth: false, body: true, handler: (ctx) => register(accounts, limits, ctx) },
      { method: 'GET', path: `${prefix}/login`, auth: false, body: false, handler: () => ok({ flows: [{ type: PASSWORD }] }) },
      { method: 'POST', path: `${prefix}/login`, auth: false, body: true, handler: (ctx) => login(accounts, limits, ctx) },
      { method: 'GET', path: `${prefix}/account/whoami`, auth: true, body: false, handler: whoami },
      // The request has no body; one sent anyway (the runner sends {}) is left unread.
      { method: 'POST', path: `${prefix}/logout`, auth: true, body: false, handler: (ctx) => logout(accounts, ctx) },
    );
  }
  return routes;
}

function whoami(ctx: AuthedContext): HandlerResult {
  return ok({ user_id: ctx.device.userId, device_id: ctx.device.deviceId, is_guest: false });
}

/** Invalidates the access token the request was made with, which frees its place under maxSessions. */
function logout(accounts: Accounts, ctx: AuthedContext): HandlerResult {
  accounts.logout(ctx.device.accessToken);
  return ok({});
}

function usersFullError(limits: Limits): HandlerResult {
  return resourceLimitExceeded(limits, `This server is full: it has ${limits.maxUsers} users, the most it registers; restart it to start afresh`);
}

function sessionsFullError(limits: Limits): HandlerResult {
  return resourceLimitExceeded(limits, `This server is full: ${limits.maxSessions} access tokens are open, the most it keeps; log out (POST /logout) to free one, or restart the server`);
}

/** Device ids are kept as long as their token, so their length is bounded, as Synapse bounds it. */
function deviceIdProblem(deviceId: Json | undefined): HandlerResult | undefined {
  if (typeof deviceId !== 'string' || deviceId.length <= MAX_DEVICE_ID_LENGTH) return undefined;
  return matrixError(400, 'M_INVALID_PARAM', `device_id: must not be longer than ${MAX_DEVICE_ID_LENGTH} characters`);
}

/** Registration behind user-interactive auth with the single stage m.login.dummy. */
function register(accounts: Accounts, limits: Limits, ctx: RouteContext): HandlerResult {
  const kind = ctx.query.get('kind') ?? 'user';
  if (kind === 'guest') return matrixError(403, 'M_FORBIDDEN', 'Guest access is disabled');
  if (kind !== 'user') return matrixError(400, 'M_INVALID_PARAM', `unknown registration kind '${kind}'`);

  const fields = readFields(ctx.body, {
    username: 'string',
    password: 'string',
    device_id: 'string',
    initial_device_display_name: 'string',
    inhibit_login: 'boolean',
    auth: 'object',
  });
  if (!fields.ok) return fields.error;
  const { username, password, device_id: deviceId, inhibit_login: inhibitLogin, auth } = fields.values;

  // The name is checked before the auth stage too, so a client learns of a clash without completing it.
  if (typeof username === 'string') {
    const problem = accounts.checkUsername(username);
    if (problem === 'invalid') {
      return matrixError(400, 'M_INVALID_USERNAME', 'User ID may only contain characters a-z, 0-9, ".", "_", "=", "-" and "/", and be at most 255 characters long');
    }
    if (problem === 'in-use') return matrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
  }
  const badDeviceId = deviceIdProblem(deviceId);
  if (badDeviceId !== undefined) return badDeviceId;

  // A full server says so at the first request, before the client goes through the
  // auth stage, and again at the last: nothing awaits between this check and register().
  if (accounts.usersFull()) return usersFullError(limits);
  if (inhibitLogin !== true && accounts.sessionsFull()) return sessionsFullError(limits);

  if (!isJsonObject(auth)) return challenge(accounts);
  const stage = readFields(auth, { type: 'string', session: 'string' });
  if (!stage.ok) return stage.error;
  const { type, session } = stage.values;
  // An auth dict without a type only asks where the session stands.
  if (type === undefined) return challenge(accounts, typeof session === 'string' ? session : undefined);
  if (type !== DUMMY) return matrixError(400, 'M_UNRECOGNIZED', `unsupported auth type '${String(type)}'; use ${DUMMY}`);
  if (typeof session !== 'string' || !accounts.completeSession(session)) {
    return challenge(accounts, undefined, matrixError(401, 'M_UNKNOWN', 'unknown or already used auth session'));
  }

  const localpart = typeof username === 'string' ? username : accounts.generateUsername();
  // Re-checked here because another registration may have taken the name since the first request.
  if (accounts.checkUsername(localpart) === 'in-use') return matrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
  const userId = accounts.register(localpart, typeof password === 'string' ? password : undefined);
  if (inhibitLogin === true) return ok({ user_id: userId });
  const device = accounts.createDevice(userId, typeof deviceId === 'string' ? deviceId : undefined);
  return ok({ user_id: userId, access_token: device.accessToken, device_id: device.deviceId });
}

/**
 * The 401 that starts (or restarts) the dummy stage. A session the client
 * already holds is kept if the server issued it; a failed stage adds its errcode.
 */
function challenge(accounts: Accounts, session?: string, failure?: HandlerResult): HandlerResult {
  const id = session !== undefined && accounts.hasSession(session) ? session : accounts.newSession();
  return { status: 401, body: { ...failure?.body, flows: [{ stages: [DUMMY] }], params: {}, session: id } };
}

function login(accounts: Accounts, limits: Limits, ctx: RouteContext): HandlerResult {
  const fields = readFields(ctx.body, { type: 'string', identifier: 'object', user: 'string', password: 'string', device_id: 'string' });
  if (!fields.ok) return fields.error;
  const { type, identifier, user: legacyUser, password, device_id: deviceId } = fields.values;
  if (type === undefined) return matrixError(400, 'M_MISSING_PARAM', "missing field 'type'");
  if (type !== PASSWORD) return matrixError(400, 'M_UNKNOWN', `unknown login type '${String(type)}'; use ${PASSWORD}`);

  let user = legacyUser;
  if (isJsonObject(identifier)) {
    const id = readFields(identifier, { type: 'string', user: 'string' });
    if (!id.ok) return id.error;
    if (id.values.type !== 'm.id.user') return matrixError(400, 'M_UNKNOWN', "unknown identifier type; use 'm.id.user'");
    user = id.values.user;
  }
  if (typeof user !== 'string') return matrixError(400, 'M_MISSING_PARAM', "missing field 'identifier.user'");
  if (typeof password !== 'string') return matrixError(400, 'M_MISSING_PARAM', "missing field 'password'");
  const badDeviceId = deviceIdProblem(deviceId);
  if (badDeviceId !== undefined) return badDeviceId;

  const localpart = localpartOf(accounts, user);
  const userId = localpart === undefined ? undefined : accounts.verifyPassword(localpart, password);
  if (userId === undefined) return matrixError(403, 'M_FORBIDDEN', 'Invalid username or password');
  // Checked after the password, so that a wrong one is still told apart from a full server.
  if (accounts.sessionsFull()) return sessionsFullError(limits);
  const device = accounts.createDevice(userId, typeof deviceId === 'string' ? deviceId : undefined);
  return ok({ user_id: userId, access_token: device.accessToken, device_id: device.deviceId });
}

/** Accepts a bare localpart or a full user id on this server; user ids are case-insensitive at login. */
function localpartOf(accounts: Accounts, user: string): string | undefined {
  if (!user.startsWith('@')) return user.toLowerCase();
  const suffix = `:${accounts.serverName}`;
  return user.endsWith(suffix) ? user.slice(1, -suffix.length).toLowerCase() : undefined;
}

type FieldType = 'string' | 'boolean' | 'object';
type Fields<K extends string> = { ok: true; values: Partial<Record<K, Json>> } | { ok: false; error: HandlerResult };

/**
 * Reads optional own fields and checks their JSON types; only own properties
 * count, so a key such as "constructor" is never read from the prototype.
 */
function readFields<K extends string>(body: JsonObject, spec: Record<K, FieldType>): Fields<K> {
  const values: Partial<Record<K, Json>> = {};
  for (const key of Object.keys(spec) as K[]) {
    if (!Object.hasOwn(body, key)) continue;
    const value = body[key];
    if (value === undefined) continue;
    const expected = spec[key];
    const actual = jsonType(value);
    if (expected !== actual) return { ok: false, error: matrixError(400, 'M_BAD_JSON', `'${key}' must be a JSON ${expected}, not ${actual}`) };
    values[key] = value;
  }
  return { ok: true, values };
}
