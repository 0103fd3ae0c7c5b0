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
 * The caps on rooms and on push delivery, apart from Limits so that each group
 * can be read (and its defaults listed) on its own. Same rules: a positive integer
 * or Infinity.
 *
 * The suite's delivery cases (10 of them) each create one room with two members,
 * send at most three messages in it, and leave it when they end, so a room lives
 * as long as a case; a room no one is joined to any more is forgotten at once.
 */
export interface RoomLimits {
  /** Rooms that exist at once, server-wide (a room is forgotten when its last joined member leaves). */
  readonly maxRooms: number;
  /** Rooms one user is joined to or invited to at once. */
  readonly maxRoomsPerUser: number;
  /** Members of one room, joined or invited. */
  readonly maxRoomMembers: number;
  /**
   * Events one room keeps (the newest; older ones are forgotten): what read
   * receipts can point at and transaction ids are remembered for. Counts of
   * unread messages are kept per member and do not need the events.
   */
  readonly maxRoomEvents: number;
}

export const DEFAULT_ROOM_LIMITS: RoomLimits = Object.freeze({
  // A case holds one room for a few seconds; 1000 rooms is a hundred full-speed runs
  // at once. Bounds the rooms' memory with the two caps below (README, worst case).
  maxRooms: 1000,
  // A case needs one; a real user is in hundreds, but this server is not for real users.
  maxRoomsPerUser: 100,
  // A case needs two.
  maxRoomMembers: 100,
  // A case sends three messages and receipts the newest; 100 events cost about 20 KiB
  // (each kept as its id, its sender and a hash of its transaction id).
  maxRoomEvents: 100,
});

/** The caps on notifications waiting to be sent to push gateways. */
export interface DeliveryLimits {
  /**
   * Notifications waiting for one pusher (not counting the one being sent); past it
   * the oldest waiting one is dropped, so a slow or dead gateway keeps the newest.
   */
  readonly maxPushQueuePerPusher: number;
  /**
   * All waiting notifications together, each counted as its event content in
   * UTF-8 JSON bytes plus 512 bytes; past it a new notification is dropped.
   */
  readonly maxPushQueueBytes: number;
}

export const DEFAULT_DELIVERY_LIMITS: DeliveryLimits = Object.freeze({
  // A case has at most three notifications in flight for a pusher.
  maxPushQueuePerPusher: 100,
  // 16 MiB: 256 notifications of the largest content a request may carry (64 KiB),
  // 30 000 of the suite's size.
  maxPushQueueBytes: 16 * 1024 * 1024,
});

export function resolveRoomLimits(options: Partial<RoomLimits>): RoomLimits {
  const limits: RoomLimits = {
    maxRooms: options.maxRooms ?? DEFAULT_ROOM_LIMITS.maxRooms,
    maxRoomsPerUser: options.maxRoomsPerUser ?? DEFAULT_ROOM_LIMITS.maxRoomsPerUser,
    maxRoomMembers: options.maxRoomMembers ?? DEFAULT_ROOM_LIMITS.maxRoomMembers,
    maxRoomEvents: options.maxRoomEvents ?? DEFAULT_ROOM_LIMITS.maxRoomEvents,
  };
  for (const [key, value] of Object.entries(limits)) checkCap(key, value);
  return Object.freeze(limits);
}

export function resolveDeliveryLimits(options: Partial<DeliveryLimits>): DeliveryLimits {
  const limits: DeliveryLimits = {
    maxPushQueuePerPusher: options.maxPushQueuePerPusher ?? DEFAULT_DELIVERY_LIMITS.maxPushQueuePerPusher,
    maxPushQueueBytes: options.maxPushQueueBytes ?? DEFAULT_DELIVERY_LIMITS.maxPushQueueBytes,
  };
  for (const [key, value] of Object.entries(limits)) checkCap(key, value);
  return Object.freeze(limits);
}

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
