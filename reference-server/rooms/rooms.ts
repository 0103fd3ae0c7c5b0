/**
 * Rooms, reduced to what push delivery and push rules need: who is joined or
 * invited, the power levels, the newest events (for read receipts and
 * transaction ids), and per member the number of messages from others since
 * that member's last read receipt.
 *
 * No other room state, no timeline, no history: an event is kept as its id, its
 * sender, its position and a hash of the transaction it was sent in, and only the
 * newest `maxRoomEvents` of them. Membership changes are events too (an invite is
 * what `.m.rule.invite_for_me` matches). Every method is synchronous, so a
 * route's check-then-change runs without an await in between.
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
  /** Whether it is a message: it counts as unread for the others. */
  readonly counts: boolean;
  /** Membership and state events are sent without a transaction id. */
  readonly txnKey: string | undefined;
}

/**
 * The power levels of a room, as far as this server reads them: who may send
 * what, and who may notify the whole room (`sender_notification_permission`).
 */
export interface PowerLevels {
  readonly users: ReadonlyMap<string, number>;
  readonly usersDefault: number;
  readonly events: ReadonlyMap<string, number>;
  readonly eventsDefault: number;
  readonly stateDefault: number;
  readonly notifications: ReadonlyMap<string, number>;
}

/** The levels a room starts with, as the createRoom of the spec describes them; its creator gets 100. */
const DEFAULT_EVENT_LEVELS: ReadonlyMap<string, number> = new Map([
  ['m.room.name', 50],
  ['m.room.power_levels', 100],
  ['m.room.history_visibility', 100],
  ['m.room.canonical_alias', 50],
  ['m.room.avatar', 50],
  ['m.room.tombstone', 100],
  ['m.room.server_acl', 100],
  ['m.room.encryption', 100],
]);

export function levelOf(levels: PowerLevels, userId: string): number {
  return levels.users.get(userId) ?? levels.usersDefault;
}

/** The level a notification key needs: `notifications.<key>`, 50 when the power levels say nothing. */
export function notificationLevel(levels: PowerLevels, key: string): number {
  return levels.notifications.get(key) ?? 50;
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
  powerLevels: PowerLevels;
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
  | { code: 'unknown-event' }
  | { code: 'no-power'; needed: number; has: number };

/** An event the room took, and what push rules need to know of the room at that moment. */
export interface RecordedEvent {
  readonly eventId: string;
  /** Whom push rules are evaluated for: the joined members but the sender, and the invitee of an invite. */
  readonly recipients: readonly string[];
  /** Joined members once the event is in. */
  readonly memberCount: number;
  readonly powerLevels: PowerLevels;
}

export interface SentEvent extends RecordedEvent {
  /** False when the transaction was already used: the event it made, sent again, goes to no one. */
  readonly fresh: boolean;
}

/** What a sent event is, as far as the room is concerned. */
export interface EventShape {
  readonly type: string;
  /** Present for a state event. */
  readonly stateKey?: string;
  /** A message counts as unread for the other members. */
  readonly isMessage: boolean;
  /** For an m.room.power_levels state event: the levels it sets. */
  readonly powerLevels?: PowerLevels;
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
   * the creator, without duplicates) invited, each invite an event. Refused as a
   * whole when any user would pass a cap. With `trusted`, the invitees get the
   * creator's power level (the trusted_private_chat preset).
   */
  create(creator: string, joinRule: JoinRule, invites: readonly string[], trusted = false): { roomId: string; invites: RecordedEvent[] } | RoomRefusal {
    if (this.#rooms.size >= this.#limits.maxRooms) return { code: 'rooms-full' };
    if (1 + invites.length > this.#limits.maxRoomMembers) return { code: 'members-full' };
    for (const userId of [creator, ...invites]) {
      if (this.#roomCount(userId) >= this.#limits.maxRoomsPerUser) return { code: 'user-rooms-full', userId };
    }
    let roomId: string;
    do roomId = `!${randomBytes(18).toString('base64url')}:${this.#serverName}`;
    while (this.#rooms.has(roomId));
    const admins = [creator, ...(trusted ? invites : [])];
    const powerLevels: PowerLevels = {
      users: new Map(admins.map((userId) => [userId, 100])),
      usersDefault: 0,
      events: DEFAULT_EVENT_LEVELS,
      eventsDefault: 0,
      stateDefault: 50,
      notifications: new Map([['room', 50]]),
    };
    const room: Room = { roomId, joinRule, members: new Map(), joined: 0, seq: 0, events: [], byEventId: new Map(), byTxn: new Map(), powerLevels };
    this.#rooms.set(roomId, room);
    this.#setMembership(room, creator, 'join');
    const recorded: RecordedEvent[] = [];
    for (const userId of invites) {
      this.#setMembership(room, userId, 'invite');
      recorded.push(this.#record(room, creator, undefined, false, userId));
    }
    return { roomId, invites: recorded };
  }

  /**
   * `inviter` must be joined; inviting someone already invited changes nothing
   * and succeeds (undefined: no event).
   */
  invite(roomId: string, inviter: string, invitee: string): RecordedEvent | RoomRefusal | undefined {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    if (room.members.get(inviter)?.membership !== 'join') return { code: 'not-joined' };
    const current = room.members.get(invitee)?.membership;
    if (current === 'join') return { code: 'already-joined', userId: invitee };
    if (current === 'invite') return undefined;
    const full = this.#roomForOneMore(room, invitee);
    if (full !== undefined) return full;
    this.#setMembership(room, invitee, 'invite');
    return this.#record(room, inviter, undefined, false, invitee);
  }

  /** Invited users may join any room, others only public ones; joining again changes nothing and succeeds (undefined). */
  join(roomId: string, userId: string): RecordedEvent | RoomRefusal | undefined {
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
    return this.#record(room, userId, undefined, false);
  }

  /**
   * Joined or invited users may leave (an invited one declines). A room no one is
   * joined to is forgotten, and its leave event goes to no one.
   */
  leave(roomId: string, userId: string): RecordedEvent | RoomRefusal {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    if (!room.members.has(userId)) return { code: 'not-joined' };
    this.#removeMember(room, userId);
    const event = this.#record(room, userId, undefined, false);
    if (room.joined === 0) this.#forget(room);
    return event;
  }

  /**
   * An event sent by a joined member whose power level allows its type. The same
   * transaction (user, device and txnId) gives the event it made before, for as
   * long as that event is kept, and changes nothing; state events have no
   * transaction. A message counts as unread for every other joined member; an
   * m.room.power_levels state event replaces the room's levels.
   */
  send(roomId: string, sender: string, deviceId: string, txnId: string | undefined, shape: EventShape): SentEvent | RoomRefusal {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return { code: 'not-found' };
    const key = txnId === undefined ? undefined : txnKey(sender, deviceId, txnId);
    // A transaction replayed after its sender left still names its event: the spec makes PUT idempotent.
    const earlier = key === undefined ? undefined : room.byTxn.get(key);
    if (earlier !== undefined) return { eventId: earlier, fresh: false, recipients: [], memberCount: room.joined, powerLevels: room.powerLevels };
    if (room.members.get(sender)?.membership !== 'join') return { code: 'not-joined' };
    const levels = room.powerLevels;
    const needed = levels.events.get(shape.type) ?? (shape.stateKey === undefined ? levels.eventsDefault : levels.stateDefault);
    const has = levelOf(levels, sender);
    if (has < needed) return { code: 'no-power', needed, has };
    if (shape.powerLevels !== undefined) room.powerLevels = shape.powerLevels;
    return { ...this.#record(room, sender, key, shape.isMessage), fresh: true };
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

  /** Keeps a new event (the newest maxRoomEvents are kept) and says whom it concerns. */
  #record(room: Room, sender: string, key: string | undefined, counts: boolean, invitee?: string): RecordedEvent {
    let eventId: string;
    do eventId = `$${randomBytes(32).toString('base64url')}`;
    while (room.byEventId.has(eventId));
    room.seq += 1;
    const event: KeptEvent = { eventId, sender, seq: room.seq, counts, txnKey: key };
    room.events.push(event);
    room.byEventId.set(eventId, event);
    if (key !== undefined) room.byTxn.set(key, eventId);
    if (room.events.length > this.#limits.maxRoomEvents) {
      const oldest = room.events.shift();
      if (oldest !== undefined) {
        room.byEventId.delete(oldest.eventId);
        if (oldest.txnKey !== undefined) room.byTxn.delete(oldest.txnKey);
      }
    }
    const recipients: string[] = [];
    for (const [userId, member] of room.members) {
      if (userId === sender || (member.membership !== 'join' && userId !== invitee)) continue;
      if (counts) member.unread += 1;
      recipients.push(userId);
    }
    return { eventId, recipients, memberCount: room.joined, powerLevels: room.powerLevels };
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
