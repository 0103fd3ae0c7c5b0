/**
 * Rooms, reduced to what push delivery needs: who is joined or invited, the
 * newest events (for read receipts and transaction ids), and per member the
 * number of messages from others since that member's last read receipt.
 *
 * No room state, no timeline, no history: an event is kept as its id, its sender,
 * its position and a hash of the transaction it was sent in, and only the newest
 * `maxRoomEvents` of them. Every method is synchronous, so a route's
 * check-then-change runs without an await in between.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RoomLimits } from '../limits.js';

export type Membership = 'join' | 'invite';

/** Who may join without an invite: public_chat rooms are public, every other preset invite-only. */
export type JoinRule = 'public' | 'invite';

interface Member {
  membership: Membership;
  /** Messages from others after `readSeq` (only counted while joined). */
  unread: number;
  /** Position of the newest event the member has read: their last receipt, or where they joined. */
  readSeq: number;
}

interface KeptEvent {
  readonly eventId: string;
  readonly sender: string;
  readonly seq: number;
  /** Whether it is a message: it notifies, and counts as unread for the others. */
  readonly counts: boolean;
  readonly txnKey: string;
}

interface Room {
  readonly roomId: string;
  readonly joinRule: JoinRule;
  readonly members: Map<string, Member>;
  joined: number;
  /** Positions of events; the next one gets seq + 1. */
  seq: number;
  /** The newest events, oldest first, at most maxRoomEvents. */
  readonly events: KeptEvent[];
  readonly byEventId: Map<string, KeptEvent>;
  /** Transaction key (see txnKey) → event id, for the events still kept. */
  readonly byTxn: Map<string, string>;
}

/** Why a change was refused; the routes turn each into its Matrix error. */
export type RoomRefusal =
  | { code: 'not-found' }
  | { code: 'not-joined' }
  | { code: 'not-invited' }
  | { code: 'already-joined'; userId: string }
  | { code: 'rooms-full' }
  | { code: 'user-rooms-full'; userId: string }
  | { code: 'members-full' }
  | { code: 'unknown-event' };

export interface SentEvent {
  readonly eventId: string;
  /** False when the transaction was already used: the event it made, sent again, notifies no one. */
  readonly fresh: boolean;
  /** The joined members other than the sender, for a fresh message; [] otherwise. */
  readonly notify: readonly string[];
}

export class Rooms {
  readonly #serverName: string;
  readonly #limits: RoomLimits;
  readonly #rooms = new Map<string, Room>();
  /** userId → the rooms they are joined to or invited to. */
  readonly #byUser = new Map<string, Set<string>>();

  constructor(serverName: string, limits: RoomLimits) {
    this.#serverName = serverName;
    this.#limits = limits;
  }

  get size(): number {
    return this.#rooms.size;
  }

  /**
   * A new room with the creator joined and `invites` (registered users other than
   * the creator, without duplicates) invited. Refused as a whole when any user
   * would pass a cap.
   */
  create(creator: string, joinRule: JoinRule, invites: readonly string[]): { roomId: string } | RoomRefusal {
    if (this.#rooms.size >= this.#limits.maxRooms) return { code: 'rooms-full' };
    if (1 + invites.length > this.#limits.maxRoomMembers) return { code: 'members-full' };
    for (const userId of [creator, ...invites]) {
      if (this.#roomCount(userId) >= this.#limits.maxRoomsPerUser) return { code: 'user-rooms-full', userId };
    }
    let roomId: string;
    do roomId = `!${randomBytes(18).toString('base64url')}:${this.#serverName}`;
    while (this.#rooms.has(roomId));
    const room: Room = { roomId, joinRule, members: new Map(), joined: 0, seq: 0, events: [], byEventId: new Map(), byTxn: new Map() };
    this.#rooms.set(roomId, room);
    this.#setMembership(room, creator, 'join');
    for (const userId of invites) this.#setMembership(room, userId, 'invite');
    return { roomId };
  }

  /** `inviter` must be joined; inviting someone already invited changes nothing and succeeds. */
  invite(roomId: string, inviter: string, invitee: string): RoomRefusal | undefined {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    if (room.members.get(inviter)?.membership !== 'join') return { code: 'not-joined' };
    const current = room.members.get(invitee)?.membership;
    if (current === 'join') return { code: 'already-joined', userId: invitee };
    if (current === 'invite') return undefined;
    const full = this.#roomForOneMore(room, invitee);
    if (full !== undefined) return full;
    this.#setMembership(room, invitee, 'invite');
    return undefined;
  }

  /** Invited users may join any room, others only public ones; joining again changes nothing and succeeds. */
  join(roomId: string, userId: string): RoomRefusal | undefined {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    const current = room.members.get(userId)?.membership;
    if (current === 'join') return undefined;
    if (current === undefined) {
      if (room.joinRule !== 'public') return { code: 'not-invited' };
      const full = this.#roomForOneMore(room, userId);
      if (full !== undefined) return full;
    }
    this.#setMembership(room, userId, 'join');
    return undefined;
  }

  /** Joined or invited users may leave (an invited one declines). A room no one is joined to is forgotten. */
  leave(roomId: string, userId: string): RoomRefusal | undefined {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    if (!room.members.has(userId)) return { code: 'not-joined' };
    this.#removeMember(room, userId);
    if (room.joined === 0) this.#forget(room);
    return undefined;
  }

  /**
   * An event sent by a joined member. The same transaction (user, device and txnId)
   * gives the event it made before, for as long as that event is kept, and changes
   * nothing. A message counts as unread for every other joined member.
   */
  send(roomId: string, sender: string, deviceId: string, txnId: string, isMessage: boolean): SentEvent | RoomRefusal {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    const key = txnKey(sender, deviceId, txnId);
    // A transaction replayed after its sender left still names its event: the spec makes PUT idempotent.
    const earlier = room.byTxn.get(key);
    if (earlier !== undefined) return { eventId: earlier, fresh: false, notify: [] };
    if (room.members.get(sender)?.membership !== 'join') return { code: 'not-joined' };

    let eventId: string;
    do eventId = `$${randomBytes(32).toString('base64url')}`;
    while (room.byEventId.has(eventId));
    room.seq += 1;
    const event: KeptEvent = { eventId, sender, seq: room.seq, counts: isMessage, txnKey: key };
    room.events.push(event);
    room.byEventId.set(eventId, event);
    room.byTxn.set(key, eventId);
    if (room.events.length > this.#limits.maxRoomEvents) {
      const oldest = room.events.shift();
      if (oldest !== undefined) {
        room.byEventId.delete(oldest.eventId);
        room.byTxn.delete(oldest.txnKey);
      }
    }
    const notify: string[] = [];
    if (isMessage) {
      for (const [userId, member] of room.members) {
        if (userId === sender || member.membership !== 'join') continue;
        member.unread += 1;
        notify.push(userId);
      }
    }
    return { eventId, fresh: true, notify };
  }

  /**
   * A read receipt: the member has read up to this event, so only messages from
   * others after it are unread. A receipt older than the member's last one (or
   * than their join) changes nothing. The event must be one the room still keeps.
   * With `moveRead` false (a fully-read marker) it is only checked.
   */
  receipt(roomId: string, userId: string, eventId: string, moveRead = true): RoomRefusal | undefined {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    const member = room.members.get(userId);
    if (member?.membership !== 'join') return { code: 'not-joined' };
    const event = room.byEventId.get(eventId);
    if (event === undefined) return { code: 'unknown-event' };
    if (!moveRead || event.seq <= member.readSeq) return undefined;
    member.readSeq = event.seq;
    // Every event after a kept one is kept too, so this count is exact.
    let unread = 0;
    for (let i = room.events.length - 1; i >= 0; i -= 1) {
      const later = room.events[i];
      if (later === undefined || later.seq <= event.seq) break;
      if (later.counts && later.sender !== userId) unread += 1;
    }
    member.unread = unread;
    return undefined;
  }

  /** Unread messages of the user, summed over the rooms they are joined to. */
  unreadTotal(userId: string): number {
    let total = 0;
    for (const roomId of this.#byUser.get(userId) ?? []) {
      const member = this.#rooms.get(roomId)?.members.get(userId);
      if (member?.membership === 'join') total += member.unread;
    }
    return total;
  }

  /** The user's membership of a room, for tests and for routes that explain a refusal. */
  membership(roomId: string, userId: string): Membership | undefined {
    return this.#rooms.get(roomId)?.members.get(userId)?.membership;
  }

  #roomCount(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }

  /** Whether the room can take one more member, and the user one more room. */
  #roomForOneMore(room: Room, userId: string): RoomRefusal | undefined {
    if (room.members.size >= this.#limits.maxRoomMembers) return { code: 'members-full' };
    if (this.#roomCount(userId) >= this.#limits.maxRoomsPerUser) return { code: 'user-rooms-full', userId };
    return undefined;
  }

  #setMembership(room: Room, userId: string, membership: Membership): void {
    const member = room.members.get(userId);
    if (member === undefined) {
      room.members.set(userId, { membership, unread: 0, readSeq: room.seq });
      let mine = this.#byUser.get(userId);
      if (mine === undefined) {
        mine = new Set();
        this.#byUser.set(userId, mine);
      }
      mine.add(room.roomId);
    } else {
      if (member.membership === 'join') room.joined -= 1;
      member.membership = membership;
      // Nothing sent before the join counts as unread.
      member.unread = 0;
      member.readSeq = room.seq;
    }
    if (membership === 'join') room.joined += 1;
  }

  #removeMember(room: Room, userId: string): void {
    const member = room.members.get(userId);
    if (member === undefined) return;
    if (member.membership === 'join') room.joined -= 1;
    room.members.delete(userId);
    const mine = this.#byUser.get(userId);
    mine?.delete(room.roomId);
    if (mine?.size === 0) this.#byUser.delete(userId);
  }

  /** Drops the room and every invite still pending in it. */
  #forget(room: Room): void {
    for (const userId of [...room.members.keys()]) this.#removeMember(room, userId);
    this.#rooms.delete(room.roomId);
  }
}

/**
 * A transaction is the sender's, on one device (the spec scopes txnId to the
 * device since v1.7, to the access token before). Kept as a fixed-size hash, so
 * that long device and transaction ids cost nothing extra to remember.
 */
function txnKey(userId: string, deviceId: string, txnId: string): string {
  return createHash('sha256').update(JSON.stringify([userId, deviceId, txnId])).digest('base64url');
}
