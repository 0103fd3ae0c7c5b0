import { PUSHER_OVERHEAD_BYTES } from '../limits.js';
import type { PusherKey, PusherRecord, PusherStore, SetRefusal } from './types.js';

/**
 * Map keys built from user data. JSON of the pair cannot collide the way a
 * separator could (an app_id may itself contain any character).
 */
function pairKey(appId: string, pushkey: string): string {
  return JSON.stringify([appId, pushkey]);
}

/**
 * The server-wide byte budget for pushers, shared by the stores of both editions,
 * so that the cap holds for the server as a whole.
 */
export class PusherStorage {
  readonly maxBytes: number;
  #used = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get usedBytes(): number {
    return this.#used;
  }

  /** What a record is charged: its JSON text in UTF-8, and the bookkeeping around it. */
  static cost(record: PusherRecord): number {
    return Buffer.byteLength(record.json, 'utf8') + PUSHER_OVERHEAD_BYTES;
  }

  /** Takes `delta` bytes (negative gives back) unless that would pass the cap. */
  tryAdjust(delta: number): boolean {
    if (delta > 0 && this.#used + delta > this.maxBytes) return false;
    this.#used += delta;
    return true;
  }
}

interface Entry {
  readonly record: PusherRecord;
  readonly cost: number;
}

export interface MemoryPusherStoreOptions {
  /** Pushers one user may hold in this store; Infinity for no cap. */
  maxPushersPerUser: number;
  storage: PusherStorage;
}

export class MemoryPusherStore implements PusherStore {
  readonly #maxPerUser: number;
  readonly #storage: PusherStorage;
  /** userId → (app_id, pushkey) → entry. Maps, so user strings never become object keys. */
  readonly #byUser = new Map<string, Map<string, Entry>>();
  /** (app_id, pushkey) → the users holding a pusher with it, for removeOthers. */
  readonly #usersByPair = new Map<string, Set<string>>();

  constructor(options: MemoryPusherStoreOptions) {
    this.#maxPerUser = options.maxPushersPerUser;
    this.#storage = options.storage;
  }

  list(userId: string): readonly PusherRecord[] {
    return Array.from(this.#byUser.get(userId)?.values() ?? [], (entry) => entry.record);
  }

  get(key: PusherKey): PusherRecord | undefined {
    return this.#byUser.get(key.userId)?.get(pairKey(key.appId, key.pushkey))?.record;
  }

  set(record: PusherRecord): SetRefusal | undefined {
    const pair = pairKey(record.appId, record.pushkey);
    const mine = this.#byUser.get(record.userId);
    const existing = mine?.get(pair);
    // Only a new key counts against the per-user cap: an update in place adds nothing.
    if (existing === undefined && (mine?.size ?? 0) >= this.#maxPerUser) return 'user-full';
    const cost = PusherStorage.cost(record);
    if (!this.#storage.tryAdjust(cost - (existing?.cost ?? 0))) return 'storage-full';

    let map = mine;
    if (map === undefined) {
      map = new Map();
      this.#byUser.set(record.userId, map);
    }
    map.set(pair, { record: Object.freeze({ ...record }), cost });
    let users = this.#usersByPair.get(pair);
    if (users === undefined) {
      users = new Set();
      this.#usersByPair.set(pair, users);
    }
    users.add(record.userId);
    return undefined;
  }

  delete(key: PusherKey): boolean {
    const pair = pairKey(key.appId, key.pushkey);
    const mine = this.#byUser.get(key.userId);
    const entry = mine?.get(pair);
    if (mine === undefined || entry === undefined) return false;
    mine.delete(pair);
    this.#storage.tryAdjust(-entry.cost);
    if (mine.size === 0) this.#byUser.delete(key.userId);
    const users = this.#usersByPair.get(pair);
    users?.delete(key.userId);
    if (users?.size === 0) this.#usersByPair.delete(pair);
    return true;
  }

  removeOthers(appId: string, pushkey: string, exceptUserId: string): number {
    const users = this.#usersByPair.get(pairKey(appId, pushkey));
    if (users === undefined) return 0;
    let removed = 0;
    for (const userId of [...users]) {
      if (userId !== exceptUserId && this.delete({ userId, appId, pushkey })) removed += 1;
    }
    return removed;
  }

  findByInstanceHandle(userId: string, instanceHandle: string): PusherRecord | undefined {
    // A user has at most maxPushersPerUser pushers; a secondary index would cost more than it saves.
    for (const entry of this.#byUser.get(userId)?.values() ?? []) {
      if (entry.record.instanceHandle === instanceHandle) return entry.record;
    }
    return undefined;
  }
}
