import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Matrix user-id grammar: lowercase localparts, and the whole id at most 255 characters. */
const LOCALPART = /^[a-z0-9._=\-/]+$/;
const MAX_USER_ID_LENGTH = 255;
/** Interactive-auth sessions that were never completed are forgotten oldest first past this. */
const MAX_PENDING_SESSIONS = 10_000;

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

/** Users, devices, access tokens and registration sessions, all in memory. */
export class Accounts {
  readonly serverName: string;
  readonly #accounts = new Map<string, Account>();
  readonly #tokens = new Map<string, Device>();
  readonly #sessions = new Set<string>();

  constructor(serverName: string) {
    this.serverName = serverName;
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
    if (this.#sessions.size >= MAX_PENDING_SESSIONS) {
      const oldest = this.#sessions.values().next();
      if (oldest.done !== true) this.#sessions.delete(oldest.value);
    }
    const session = randomToken();
    this.#sessions.add(session);
    return session;
  }

  hasSession(session: string): boolean {
    return this.#sessions.has(session);
  }

  /** Consumes a session this server issued; false for one it did not issue or already used. */
  completeSession(session: string): boolean {
    return this.#sessions.delete(session);
  }

  /** Caller has already checked the name with checkUsername in the same synchronous step. */
  register(localpart: string, password: string | undefined): string {
    const userId = this.userIdFor(localpart);
    const salt = randomBytes(16);
    this.#accounts.set(localpart, password === undefined ? { userId } : { userId, password: { salt, hash: hashPassword(salt, password) } });
    return userId;
  }

  /** The user id when the password matches, otherwise undefined (unknown user and wrong password alike). */
  verifyPassword(localpart: string, password: string): string | undefined {
    const account = this.#accounts.get(localpart);
    if (account?.password === undefined) return undefined;
    const { salt, hash } = account.password;
    return timingSafeEqual(hash, hashPassword(salt, password)) ? account.userId : undefined;
  }

  /** Logs a device in: a fresh, unguessable access token. */
  createDevice(userId: string, deviceId: string | undefined): Device {
    const device: Device = { userId, deviceId: deviceId ?? generateDeviceId(), accessToken: `rs_${randomToken()}` };
    this.#tokens.set(device.accessToken, device);
    return device;
  }

  deviceForToken(accessToken: string): Device | undefined {
    return this.#tokens.get(accessToken);
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
