/**
 * The caps that keep the reference server's memory bounded however it is used:
 * every piece of state it keeps (users, access tokens, pushers) has a ceiling, and
 * so has everything a single request or connection may hold (see index.ts for the
 * connection-level ones).
 *
 * The defaults are sized for long `npx conformance serve` sessions. One full
 * conformance run (both editions, 89 cases) registers about 20 users, opens one
 * access token per user, sets about 64 pushers, at most 4 for any one user, with a
 * `data` of at most about 220 bytes, and deletes them all again when its cases clean
 * up; `--repeat N` reuses its users. The defaults leave room for hundreds of full
 * runs (thousands with given users, which log out) while keeping the worst case an
 * adversary can reach, every cap filled to the brim, in the hundreds of megabytes
 * (worked out in reference-server/README.md).
 */
import { matrixError, type HandlerResult } from './result.js';

export interface Limits {
  /** Registered users, ever (there is no account deletion). */
  readonly maxUsers: number;
  /** Open access tokens (one per login or registration; POST /logout frees one). */
  readonly maxSessions: number;
  /** Pushers one user may hold in one edition's store (v1 and draft are counted apart). */
  readonly maxPushersPerUser: number;
  /** Size of a pusher's `data` object, serialised as JSON, in UTF-8 bytes. */
  readonly maxPusherDataBytes: number;
  /** Size of a whole pusher as GET /pushers lists it, serialised as JSON, in UTF-8 bytes. */
  readonly maxPusherBytes: number;
  /**
   * All stored pushers of all users in both editions together, each counted as
   * its serialised size plus PUSHER_OVERHEAD_BYTES (2 KiB) for its keys and index entries.
   */
  readonly maxPusherStorageBytes: number;
  /** The `admin_contact` of every M_RESOURCE_LIMIT_EXCEEDED answer. */
  readonly adminContact: string;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  // 500 full runs at about 20 fresh users each. An account costs at most about 1 KiB
  // (a user id of at most 255 characters, a salt and a hash): 10 MB at the cap.
  maxUsers: 10_000,
  // Ten times the users: runs with given users (--user) log in afresh each time, and
  // clients that never log out keep their tokens. A token with its device costs at
  // most about 1.2 KiB (device ids are limited to 512 characters): 120 MB at the cap,
  // about 15 MB with the short ids clients use.
  maxSessions: 100_000,
  // 25 times what any case needs (4), and more than any real device set: a user has
  // a pusher per device and app. Also bounds GET /pushers: 100 × maxPusherBytes = 1.6 MiB.
  maxPushersPerUser: 100,
  // A gateway's data is a url, a format and perhaps a few keys: well under 1 KiB.
  // The largest the suite sends is about 220 bytes; 8 KiB is 35 times that.
  maxPusherDataBytes: 8 * 1024,
  // The data at its cap leaves 8 KiB for the rest, of which the spec bounds only
  // pushkey (512 bytes) and app_id (64 characters); a real pusher is about 400 bytes.
  maxPusherBytes: 16 * 1024,
  // About 13 000 pushers of the suite's size, far above the few dozen a run holds at
  // once (its cases delete what they set), and whatever a client sends, at most about
  // 32 MiB of memory (64 MiB if every character of the text needs two bytes).
  maxPusherStorageBytes: 32 * 1024 * 1024,
  // No one reads this mailbox: the administrator is whoever started the server, and a
  // restart empties it. The spec requires the member; a mailto: URI is its usual form.
  adminContact: 'mailto:admin@localhost',
});

/**
 * What a stored pusher costs beyond its JSON text, charged against
 * maxPusherStorageBytes: its record with its own app_id and pushkey strings, the
 * pair key and the entries of both indexes. Measured at about 2 KiB with the
 * longest keys (a 512-byte pushkey, a 64-character app_id), a few hundred bytes with
 * short ones. Without it, many tiny pushers would cost far more than counted.
 */
export const PUSHER_OVERHEAD_BYTES = 2048;

/** Device ids chosen by clients are kept as long as their token; Synapse also caps them at 512. */
export const MAX_DEVICE_ID_LENGTH = 512;

/**
 * The limits with every default filled in. A cap must be a positive integer or
 * Infinity (no cap); anything else is a programming error and throws.
 */
export function resolveLimits(options: Partial<Limits>): Limits {
  const limits: Limits = {
    maxUsers: options.maxUsers ?? DEFAULT_LIMITS.maxUsers,
    maxSessions: options.maxSessions ?? DEFAULT_LIMITS.maxSessions,
    maxPushersPerUser: options.maxPushersPerUser ?? DEFAULT_LIMITS.maxPushersPerUser,
    maxPusherDataBytes: options.maxPusherDataBytes ?? DEFAULT_LIMITS.maxPusherDataBytes,
    maxPusherBytes: options.maxPusherBytes ?? DEFAULT_LIMITS.maxPusherBytes,
    maxPusherStorageBytes: options.maxPusherStorageBytes ?? DEFAULT_LIMITS.maxPusherStorageBytes,
    adminContact: options.adminContact ?? DEFAULT_LIMITS.adminContact,
  };
  for (const key of ['maxUsers', 'maxSessions', 'maxPushersPerUser', 'maxPusherDataBytes', 'maxPusherBytes', 'maxPusherStorageBytes'] as const) {
    checkCap(key, limits[key]);
  }
  if (typeof limits.adminContact !== 'string' || limits.adminContact === '') throw new TypeError('reference server: adminContact must be a non-empty string');
  return Object.freeze(limits);
}

/** A cap is a positive integer, or Infinity for none. */
export function checkCap(name: string, value: unknown): void {
  if (value === Infinity) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`reference server: ${name} must be a positive integer or Infinity, not ${String(value)}`);
  }
}

/**
 * 403 M_RESOURCE_LIMIT_EXCEEDED: the server (or the user's share of it) is full.
 * The spec requires `admin_contact` on this code. It is not M_LIMIT_EXCEEDED, the
 * rate limit, which clients wait out and retry: waiting does not empty a full server.
 */
export function resourceLimitExceeded(limits: Limits, error: string): HandlerResult {
  const result = matrixError(403, 'M_RESOURCE_LIMIT_EXCEEDED', error);
  return { ...result, body: { ...result.body, admin_contact: limits.adminContact } };
}

/** 400 M_TOO_LARGE for a part of the body over its cap (413 stays for a body over the read cap). */
export function tooLarge(error: string): HandlerResult {
  return matrixError(400, 'M_TOO_LARGE', error);
}

/** "8 KiB" for whole KiB and MiB, otherwise "1234 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
