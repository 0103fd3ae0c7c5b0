import type { PusherKey, PusherRecord, PusherStore } from './types.js';

/**
 * Map keys built from user data. JSON of the pair cannot collide the way a
 * separator could (an app_id may itself contain any character).
 */
function pairKey(appId: string, pushkey: string): string {
  return JSON.stringify([appId, pushkey]);
}

export class MemoryPusherStore implements PusherStore {
  /** userId → (app_id, pushkey) → record. Maps, so user strings never become object keys. */
  readonly #byUser = new Map<string, Map<string, PusherRecord>>();
  /** (app_id, pushkey) → the users holding a pusher with it, for removeOthers. */
  readonly #usersByPair = new Map<string, Set<string>>();

  list(userId: string): readonly PusherRecord[] {
    return [...(this.#byUser.get(userId)?.values() ?? [])];
  }

  get(key: PusherKey): PusherRecord | undefined {
    return this.#byUser.get(key.userId)?.get(pairKey(key.appId, key.pushkey));
  }

  set(record: PusherRecord): void {
    const pair = pairKey(record.appId, record.pushkey);
    let mine = this.#byUser.get(record.userId);
    if (mine === undefined) {
      mine = new Map();
      this.#byUser.set(record.userId, mine);
    }
    mine.set(pair, Object.freeze({ ...record }));
    let users = this.#usersByPair.get(pair);
    if (users === undefined) {
      users = new Set();
      this.#usersByPair.set(pair, users);
    }
    users.add(record.userId);
  }

  delete(key: PusherKey): boolean {
    const pair = pairKey(key.appId, key.pushkey);
    const mine = this.#byUser.get(key.userId);
    if (mine === undefined || !mine.delete(pair)) return false;
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
    // A user has a handful of pushers; a secondary index would cost more than it saves.
    for (const record of this.#byUser.get(userId)?.values() ?? []) {
      if (record.instanceHandle === instanceHandle) return record;
    }
    return undefined;
  }
}
