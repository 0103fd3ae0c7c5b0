/** A pusher is identified, for one user, by its app_id and pushkey together. */
export interface PusherKey {
  readonly userId: string;
  readonly appId: string;
  readonly pushkey: string;
}

export interface PusherRecord extends PusherKey {
  /** Draft edition only: the handle that must be unique among one user's pushers. */
  readonly instanceHandle?: string;
  /** The pusher's kind ("http", "email"), also in `json`: delivery picks the http ones without parsing. */
  readonly kind: string;
  /** When the pusher was last set (created or updated), in ms since the epoch: its `pushkey_ts`. */
  readonly updatedAtMs: number;
  /**
   * The pusher as the client sent it and as GET /pushers lists it, as JSON text.
   * Text rather than a parsed object: a JSON document of many small arrays or
   * objects takes up to twenty times its size once parsed, and text costs what it
   * weighs, which is what the storage cap counts.
   */
  readonly json: string;
}

/**
 * Why set() refused: the user holds as many pushers as one user may, or the
 * server's pusher storage is full. Nothing was written.
 */
export type SetRefusal = 'user-full' | 'storage-full';

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
  /**
   * Inserts, or replaces the record with the same key. A new key is refused when
   * the user is at the per-user cap; a replacement never is on that count, and
   * either is refused when it would take the storage past its cap.
   */
  set(record: PusherRecord): SetRefusal | undefined;
  /** Whether a record was there to delete. */
  delete(key: PusherKey): boolean;
  /** Removes every other user's pusher with this app_id and pushkey; returns how many. */
  removeOthers(appId: string, pushkey: string, exceptUserId: string): number;
  findByInstanceHandle(userId: string, instanceHandle: string): PusherRecord | undefined;
}
