import type { JsonObject } from '../json.js';

/** A pusher is identified, for one user, by its app_id and pushkey together. */
export interface PusherKey {
  readonly userId: string;
  readonly appId: string;
  readonly pushkey: string;
}

export interface PusherRecord extends PusherKey {
  /** Draft edition only: the handle that must be unique among one user's pushers. */
  readonly instanceHandle?: string;
  /** The pusher as the client sent it and as GET /pushers lists it. */
  readonly pusher: Readonly<JsonObject>;
}

/**
 * Where pushers live. The methods are synchronous on purpose: a handler's
 * read-modify-write (check a handle, upsert, remove other users' copies) then runs
 * without an await in between, so concurrent requests cannot interleave inside it.
 * A store backed by I/O would have to keep that guarantee with a per-user lock.
 */
export interface PusherStore {
  /** The user's pushers, in creation order (an update keeps its place). */
  list(userId: string): readonly PusherRecord[];
  get(key: PusherKey): PusherRecord | undefined;
  /** Inserts, or replaces the record with the same key. */
  set(record: PusherRecord): void;
  /** Whether a record was there to delete. */
  delete(key: PusherKey): boolean;
  /** Removes every other user's pusher with this app_id and pushkey; returns how many. */
  removeOthers(appId: string, pushkey: string, exceptUserId: string): number;
  findByInstanceHandle(userId: string, instanceHandle: string): PusherRecord | undefined;
}
