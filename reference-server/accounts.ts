import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Matrix user-id grammar: lowercase localparts, and the whole id at most 255 characters. */
const LOCALPART = /^[a-z0-9._=\-/]+$/;
const MAX_USER_ID_LENGTH = 255;
/**
 * Interactive-auth (registration) sessions that were never completed are forgotten
 * oldest first past this: a client that keeps asking for challenges costs at most
 * this many 32-character ids, and is never refused for it.
 */
const MAX_PENDING_AUTH_SESSIONS = 10_000;

export interface Device {
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
}

interface Account {
  readonly userId: string;
  /** Absent when the user registered without a password: such a user cannot log in. */
  readonly password?: { readonly salt: Buffer; readonly hash: Buffer };
}

export type UsernameProblem = 'invalid' | 'in-use';

export interface AccountLimits {
  /** Registered users; Infinity for no cap. */
  readonly maxUsers: number;
  /** Open access tokens (logged-in devices); Infinity for no cap. */
  readonly maxSessions: number;
}

/**
 * Users, devices, access tokens and registration sessions, all in memory. The
 * caps are checked by the routes (usersFull, sessionsFull) before they register
 * or log in, in the same synchronous step; register and createDevice refuse to
 * pass them all the same.
 */
export class Accounts {
  readonly serverName: string;
  readonly #limits: AccountLimits;
  readonly #accounts = new Map<string, Account>();
  readonly #tokens = new Map<string, Device>();
  readonly #authSessions = new Set<string>();

  constructor(serverName: string, limits: AccountLimits = { maxUsers: Infinity, maxSessions: Infinity }) {
    this.serverName = serverName;
    this.#limits = limits;
  }

  /** Whether another user would pass maxUsers. */
  usersFull(): boolean {
    return this.#accounts.size >= this.#limits.maxUsers;
  }

  /** Whether another access token would pass maxSessions. */
  sessionsFull(): boolean {
    return this.#tokens.size >= this.#limits.maxSessions;
  }

  userIdFor(localpart: string): string {
    return `@${localpart}:${this.serverName}`;
  }

  checkUsername(localpart: string): UsernameProblem | undefined {
    if (!LOCALPART.test(localpart) || this.userIdFor(localpart).length > MAX_USER_ID_LENGTH) return 'invalid';
    return this.#accounts.has(localpart) ? 'in-use' : undefined;
  }

  /** A name no one has taken, for registrations that do not ask for one. */
  generateUsername(): string {
    for (;;) {
      const name = `user-${randomBytes(6).toString('hex')}`;
      if (!this.#accounts.has(name)) return name;
    }
  }

  newSession(): string {
    if (this.#authSessions.size >= MAX_PENDING_AUTH_SESSIONS) {
      const oldest = this.#authSessions.values().next();
      if (oldest.done !== true) this.#authSessions.delete(oldest.value);
    }
    const session = randomToken();
    this.#authSessions.add(session);
    return session;
  }

  hasSession(session: string): boolean {
    return this.#authSessions.has(session);
  }

  /** Consumes a session this server issued; false for one it did not issue or already used. */
  completeSession(session: string): boolean {
    return this.#authSessions.delete(session);
  }

  /** Caller has already checked the name with checkUsername, and usersFull, in the same synchronous step. */
  register(localpart: string, password: string | undefined): string {
    if (this.usersFull()) throw new Error('reference server: register past maxUsers (the route must check usersFull first)');
    const userId = this.userIdFor(localpart);
    const salt = randomBytes(16);
    this.#accounts.set(localpart, password === undefined ? { userId } : { userId, password: { salt, hash: hashPassword(salt, password) } });
    return userId;
  }

  /**
   * The registered user with this id, as the server spells it (the string it keeps,
   * so that rooms holding it add no copy), or undefined: an id of another server,
   * of no one, or not a user id at all. Ids are compared exactly, as the spec says.
   */
  registeredUserId(userId: string): string | undefined {
    const suffix = `:${this.serverName}`;
    if (!userId.startsWith('@') || !userId.endsWith(suffix)) return undefined;
    return this.#accounts.get(userId.slice(1, -suffix.length))?.userId;
  }

  /** The user id when the password matches, otherwise undefined (unknown user and wrong password alike). */
  verifyPassword(localpart: string, password: string): string | undefined {
    const account = this.#accounts.get(localpart);
    if (account?.password === undefined) return undefined;
    const { salt, hash } = account.password;
    return timingSafeEqual(hash, hashPassword(salt, password)) ? account.userId : undefined;
  }

  /** Logs a device in: a fresh, unguessable access token. Caller has checked sessionsFull. */
  createDevice(userId: string, deviceId: string | undefined): Device {
    if (this.sessionsFull()) throw new Error('reference server: login past maxSessions (the route must check sessionsFull first)');
    const device: Device = { userId, deviceId: deviceId ?? generateDeviceId(), accessToken: `rs_${randomToken()}` };
    this.#tokens.set(device.accessToken, device);
    return device;
  }

  deviceForToken(accessToken: string): Device | undefined {
    return this.#tokens.get(accessToken);
  }

  /** Logs a device out: its access token stops working and no longer counts against maxSessions. */
  logout(accessToken: string): boolean {
    return this.#tokens.delete(accessToken);
  }
}

function randomToken(): string {
  return randomBytes(24).toString('base64url');
}

function generateDeviceId(): string {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(10), (byte) => letters[byte % letters.length]).join('');
}

/**
 * A salted hash rather than a slow KDF: accounts live only as long as the
 * process, and a test run registers thousands of users.
 */
function hashPassword(salt: Buffer, password: string): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}
