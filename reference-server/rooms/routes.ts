/**
 * The smallest part of the client-server room API that push delivery and push
 * rules need: create a room, invite, join, leave, send an event or a state
 * event, send a read receipt. Every event the room takes (membership changes
 * included) goes to `onEvent` with whom it concerns, and the push rules decide
 * who is notified. No sync, no history, no aliases, no federation.
 */
import type { Accounts } from '../accounts.js';
import { jsonType, type Json, type JsonObject } from '../json.js';
import { resourceLimitExceeded, type Limits, type RoomLimits } from '../limits.js';
import { matrixError, ok, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route } from '../routes/types.js';
import { parsePowerLevels } from './power-levels.js';
import { levelOf, notificationLevel, type JoinRule, type RecordedEvent, type RoomRefusal, type Rooms } from './rooms.js';

/** An event as delivery needs it: what the notification describes. */
export interface MessageEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly type: string;
  readonly sender: string;
  /** Present for a state event (membership events included). */
  readonly stateKey?: string;
  /** The content as JSON text, as sent. */
  readonly contentJson: string;
  /** Its size in UTF-8 bytes. */
  readonly contentBytes: number;
}

/** Someone the push rules are evaluated for, and their unread count once the event arrived. */
export interface Recipient {
  readonly userId: string;
  readonly unread: number;
}

/**
 * What push rules read besides the event's ids: its content, and the room as it
 * was when the event arrived. Only for the length of the call: nothing keeps it.
 */
export interface EventFacts {
  readonly content: JsonObject;
  /** Joined members (room_member_count). */
  readonly memberCount: number;
  /** The sender's power level, and the level a notification key needs (sender_notification_permission). */
  readonly senderLevel: number;
  notificationLevel(key: string): number;
}

/** Called once for every fresh event that concerns someone besides its sender, after the room has taken it. */
export type OnEvent = (event: MessageEvent, recipients: readonly Recipient[], facts: EventFacts) => void;

/** The spec's limit on an event type (and on room and event ids), in UTF-8 bytes. */
const MAX_ID_BYTES = 255;

const PRESETS: ReadonlyMap<string, JoinRule> = new Map([
  ['private_chat', 'invite'],
  ['trusted_private_chat', 'invite'],
  ['public_chat', 'public'],
]);

/**
 * What counts as unread for the other members: a message (m.room.message,
 * m.room.encrypted, or any event whose content has a string `body`). Whether it
 * notifies is for the push rules to say.
 */
export function isMessage(type: string, content: JsonObject): boolean {
  return type === 'm.room.message' || type === 'm.room.encrypted' || typeof content.body === 'string';
}

/** What every room handler needs. */
interface RoomContext {
  readonly rooms: Rooms;
  readonly accounts: Accounts;
  readonly refused: Refused;
  readonly emit: Emit;
}

export function roomRoutes(rooms: Rooms, accounts: Accounts, limits: Limits, roomLimits: RoomLimits, onEvent: OnEvent): Route[] {
  const refused = (refusal: RoomRefusal, roomId: string): HandlerResult => refusalError(refusal, roomId, limits, roomLimits);
  const emit: Emit = (roomId, recorded, fields) => emitEvent(rooms, onEvent, roomId, recorded, fields);
  const r: RoomContext = { rooms, accounts, refused, emit };
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => [
    { method: 'POST', path: `${prefix}/createRoom`, auth: true, body: true, handler: (ctx) => createRoom(r, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/invite`, auth: true, body: true, handler: (ctx) => invite(r, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/join`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => join(r, ctx, param(ctx, 'roomId')) },
    { method: 'POST', path: `${prefix}/join/{roomIdOrAlias}`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => joinByIdOrAlias(r, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/leave`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => leave(r, ctx) },
    { method: 'PUT', path: `${prefix}/rooms/{roomId}/send/{eventType}/{txnId}`, auth: true, body: true, handler: (ctx) => send(r, ctx) },
    { method: 'PUT', path: `${prefix}/rooms/{roomId}/state/{eventType}/{stateKey}`, auth: true, body: true, handler: (ctx) => sendState(r, ctx, param(ctx, 'stateKey')) },
    // An empty state key: the form with a trailing slash, and the one without.
    { method: 'PUT', path: `${prefix}/rooms/{roomId}/state/{eventType}/`, auth: true, body: true, handler: (ctx) => sendState(r, ctx, '') },
    { method: 'PUT', path: `${prefix}/rooms/{roomId}/state/{eventType}`, auth: true, body: true, handler: (ctx) => sendState(r, ctx, '') },
    {
      method: 'POST',
      path: `${prefix}/rooms/{roomId}/receipt/{receiptType}/{eventId}`,
      auth: true,
      body: true,
      emptyBodyIsObject: true,
      handler: (ctx) => receipt(rooms, refused, ctx),
    },
  ]);
}

function param(ctx: AuthedContext, name: string): string {
  return ctx.params[name] ?? '';
}

function createRoom(r: RoomContext, ctx: AuthedContext): HandlerResult {
  const fields = readFields(ctx.body, { preset: 'string', visibility: 'string', invite: 'array', name: 'string', topic: 'string', is_direct: 'boolean' });
  if (!fields.ok) return fields.error;
  const { preset, visibility, invite: inviteList } = fields.values;
  if (visibility !== undefined && visibility !== 'public' && visibility !== 'private') {
    return matrixError(400, 'M_INVALID_PARAM', `visibility: must be "public" or "private", not ${JSON.stringify(visibility)}`);
  }
  let joinRule: JoinRule = visibility === 'public' ? 'public' : 'invite';
  if (preset !== undefined) {
    const rule = PRESETS.get(preset as string);
    if (rule === undefined) return matrixError(400, 'M_INVALID_PARAM', `preset: must be one of ${[...PRESETS.keys()].join(', ')}, not ${JSON.stringify(preset)}`);
    joinRule = rule;
  }
  const creator = ctx.device.userId;
  // The creator is joined already, and an id listed twice is one invite.
  const invites = new Set<string>();
  for (const [index, entry] of ((inviteList as Json[] | undefined) ?? []).entries()) {
    if (typeof entry !== 'string') return matrixError(400, 'M_BAD_JSON', `invite[${index}]: must be a user id (a string), not ${jsonType(entry)}`);
    const user = inviteeOf(r.accounts, entry, `invite[${index}]`);
    if (typeof user !== 'string') return user;
    if (user !== creator) invites.add(user);
  }
  // trusted_private_chat: "All invitees are given the same power level as the room creator."
  const created = r.rooms.create(creator, joinRule, [...invites], preset === 'trusted_private_chat');
  if ('code' in created) return r.refused(created, '');
  for (const [i, userId] of [...invites].entries()) {
    const recorded = created.invites[i];
    if (recorded !== undefined) r.emit(created.roomId, recorded, membership(creator, userId, 'invite'));
  }
  return ok({ room_id: created.roomId });
}

/** The fields of a membership event. */
function membership(sender: string, target: string, state: 'invite' | 'join' | 'leave'): EventFields {
  return { type: 'm.room.member', sender, stateKey: target, content: { membership: state } };
}

function invite(r: RoomContext, ctx: AuthedContext): HandlerResult {
  const fields = readFields(ctx.body, { user_id: 'string', reason: 'string' });
  if (!fields.ok) return fields.error;
  const userId = fields.values.user_id;
  if (userId === undefined) return matrixError(400, 'M_MISSING_PARAM', "missing field 'user_id'");
  const user = inviteeOf(r.accounts, userId as string, 'user_id');
  if (typeof user !== 'string') return user;
  const roomId = param(ctx, 'roomId');
  const result = r.rooms.invite(roomId, ctx.device.userId, user);
  if (result !== undefined && 'code' in result) return r.refused(result, roomId);
  if (result !== undefined) r.emit(roomId, result, membership(ctx.device.userId, user, 'invite'));
  return ok({});
}

function join(r: RoomContext, ctx: AuthedContext, roomId: string): HandlerResult {
  const fields = readFields(ctx.body, { reason: 'string' });
  if (!fields.ok) return fields.error;
  const userId = ctx.device.userId;
  const result = r.rooms.join(roomId, userId);
  if (result !== undefined && 'code' in result) return r.refused(result, roomId);
  if (result !== undefined) r.emit(roomId, result, membership(userId, userId, 'join'));
  return ok({ room_id: roomId });
}

function joinByIdOrAlias(r: RoomContext, ctx: AuthedContext): HandlerResult {
  const target = param(ctx, 'roomIdOrAlias');
  if (target.startsWith('#')) return matrixError(404, 'M_NOT_FOUND', `Room alias ${target} not found: this server has no room aliases`);
  if (!target.startsWith('!')) return matrixError(400, 'M_INVALID_PARAM', `${JSON.stringify(target)} is neither a room id (!…) nor a room alias (#…)`);
  return join(r, ctx, target);
}

function leave(r: RoomContext, ctx: AuthedContext): HandlerResult {
  const fields = readFields(ctx.body, { reason: 'string' });
  if (!fields.ok) return fields.error;
  const roomId = param(ctx, 'roomId');
  const userId = ctx.device.userId;
  const result = r.rooms.leave(roomId, userId);
  if ('code' in result) return r.refused(result, roomId);
  r.emit(roomId, result, membership(userId, userId, 'leave'));
  return ok({});
}

function send(r: RoomContext, ctx: AuthedContext): HandlerResult {
  const roomId = param(ctx, 'roomId');
  const type = param(ctx, 'eventType');
  if (Buffer.byteLength(type, 'utf8') > MAX_ID_BYTES) return matrixError(400, 'M_INVALID_PARAM', `eventType: must not be longer than ${MAX_ID_BYTES} bytes in UTF-8`);
  const sent = r.rooms.send(roomId, ctx.device.userId, ctx.device.deviceId, param(ctx, 'txnId'), { type, isMessage: isMessage(type, ctx.body) });
  if ('code' in sent) return r.refused(sent, roomId);
  if (sent.fresh) r.emit(roomId, sent, { type, sender: ctx.device.userId, content: ctx.body });
  return ok({ event_id: sent.eventId });
}

/**
 * A state event. Only the power levels are kept (the push rules read them); any
 * other state event is an event like the others, which push rules see (such as
 * m.room.server_acl and m.room.tombstone), and is not kept. Membership goes
 * through invite, join and leave.
 */
function sendState(r: RoomContext, ctx: AuthedContext, stateKey: string): HandlerResult {
  const roomId = param(ctx, 'roomId');
  const type = param(ctx, 'eventType');
  if (Buffer.byteLength(type, 'utf8') > MAX_ID_BYTES) return matrixError(400, 'M_INVALID_PARAM', `eventType: must not be longer than ${MAX_ID_BYTES} bytes in UTF-8`);
  if (Buffer.byteLength(stateKey, 'utf8') > MAX_ID_BYTES) return matrixError(400, 'M_INVALID_PARAM', `stateKey: must not be longer than ${MAX_ID_BYTES} bytes in UTF-8`);
  if (type === 'm.room.member') return matrixError(403, 'M_FORBIDDEN', 'This server changes membership only through /invite, /join and /leave');
  let powerLevels;
  if (type === 'm.room.power_levels' && stateKey === '') {
    const parsed = parsePowerLevels(ctx.body);
    if (!parsed.ok) return parsed.error;
    powerLevels = parsed.levels;
  }
  const sent = r.rooms.send(roomId, ctx.device.userId, ctx.device.deviceId, undefined, { type, stateKey, isMessage: false, ...(powerLevels === undefined ? {} : { powerLevels }) });
  if ('code' in sent) return r.refused(sent, roomId);
  r.emit(roomId, sent, { type, sender: ctx.device.userId, stateKey, content: ctx.body });
  return ok({ event_id: sent.eventId });
}

interface EventFields {
  readonly type: string;
  readonly sender: string;
  readonly stateKey?: string;
  readonly content: JsonObject;
}

type Emit = (roomId: string, recorded: RecordedEvent, fields: EventFields) => void;

/** Hands a recorded event to the push rules, with each recipient's unread count now that it is in. */
function emitEvent(rooms: Rooms, onEvent: OnEvent, roomId: string, recorded: RecordedEvent, fields: EventFields): void {
  if (recorded.recipients.length === 0) return;
  const contentJson = JSON.stringify(fields.content);
  const { powerLevels } = recorded;
  const event: MessageEvent = {
    eventId: recorded.eventId,
    roomId,
    type: fields.type,
    sender: fields.sender,
    ...(fields.stateKey === undefined ? {} : { stateKey: fields.stateKey }),
    contentJson,
    contentBytes: Buffer.byteLength(contentJson, 'utf8'),
  };
  const facts: EventFacts = {
    content: fields.content,
    memberCount: recorded.memberCount,
    senderLevel: levelOf(powerLevels, fields.sender),
    notificationLevel: (key) => notificationLevel(powerLevels, key),
  };
  onEvent(
    event,
    recorded.recipients.map((userId) => ({ userId, unread: rooms.unreadTotal(userId) })),
    facts,
  );
}

/** Read receipts move the unread count; m.fully_read is accepted (from v1.4 it may be sent here) and counts nothing. */
const RECEIPT_TYPES: ReadonlySet<string> = new Set(['m.read', 'm.read.private', 'm.fully_read']);

function receipt(rooms: Rooms, refused: Refused, ctx: AuthedContext): HandlerResult {
  const receiptType = param(ctx, 'receiptType');
  if (!RECEIPT_TYPES.has(receiptType)) return matrixError(400, 'M_INVALID_PARAM', `receiptType: must be one of ${[...RECEIPT_TYPES].join(', ')}, not ${JSON.stringify(receiptType)}`);
  // Threads are not modelled: a threaded receipt counts as one for the whole room.
  const fields = readFields(ctx.body, { thread_id: 'string' });
  if (!fields.ok) return fields.error;
  const roomId = param(ctx, 'roomId');
  const refusal = rooms.receipt(roomId, ctx.device.userId, param(ctx, 'eventId'), receiptType !== 'm.fully_read');
  return refusal === undefined ? ok({}) : refused(refusal, roomId);
}

/** A user id of a registered user of this server, or the Matrix error saying why not. */
function inviteeOf(accounts: Accounts, userId: string, field: string): string | HandlerResult {
  if (!/^@[^:]+:.+$/.test(userId)) return matrixError(400, 'M_INVALID_PARAM', `${field}: ${JSON.stringify(userId)} is not a user id`);
  if (!userId.endsWith(`:${accounts.serverName}`)) return matrixError(403, 'M_FORBIDDEN', `${field}: ${userId} is on another server, and this server does not federate`);
  return accounts.registeredUserId(userId) ?? matrixError(404, 'M_NOT_FOUND', `${field}: no user ${userId} on this server`);
}

type Refused = (refusal: RoomRefusal, roomId: string) => HandlerResult;

function refusalError(refusal: RoomRefusal, roomId: string, limits: Limits, roomLimits: RoomLimits): HandlerResult {
  switch (refusal.code) {
    case 'not-found':
      return matrixError(404, 'M_NOT_FOUND', `Unknown room ${roomId}`);
    case 'not-joined':
      return matrixError(403, 'M_FORBIDDEN', `You are not a member of the room ${roomId}`);
    case 'not-invited':
      return matrixError(403, 'M_FORBIDDEN', `You are not invited to the room ${roomId}, and it is not public`);
    case 'already-joined':
      return matrixError(403, 'M_FORBIDDEN', `${refusal.userId} is already in the room`);
    case 'unknown-event':
      return matrixError(404, 'M_NOT_FOUND', `Unknown event in the room ${roomId}, or one this server no longer keeps (it keeps the newest ${roomLimits.maxRoomEvents} events of each room)`);
    case 'rooms-full':
      return resourceLimitExceeded(limits, `This server holds ${roomLimits.maxRooms} rooms, the most it keeps at once; a room is forgotten when its last member leaves`);
    case 'user-rooms-full':
      return resourceLimitExceeded(limits, `${refusal.userId} is already in ${roomLimits.maxRoomsPerUser} rooms (joined or invited), the most one user may be in on this server; leave one first`);
    case 'members-full':
      return resourceLimitExceeded(limits, `A room on this server holds at most ${roomLimits.maxRoomMembers} members, joined and invited together`);
    case 'no-power':
      return matrixError(403, 'M_FORBIDDEN', `Your power level in the room ${roomId} is ${refusal.has}; sending this event needs ${refusal.needed}`);
  }
}

type FieldType = 'string' | 'boolean' | 'array';
type Fields<K extends string> = { ok: true; values: Partial<Record<K, Json>> } | { ok: false; error: HandlerResult };

/** Optional own fields of the body, each of its JSON type or 400 M_BAD_JSON. */
function readFields<K extends string>(body: JsonObject, spec: Record<K, FieldType>): Fields<K> {
  const values: Partial<Record<K, Json>> = {};
  for (const key of Object.keys(spec) as K[]) {
    if (!Object.hasOwn(body, key)) continue;
    const value = body[key];
    if (value === undefined) continue;
    const actual = jsonType(value);
    if (actual !== spec[key]) return { ok: false, error: matrixError(400, 'M_BAD_JSON', `'${key}' must be a JSON ${spec[key]}, not ${actual}`) };
    values[key] = value;
  }
  return { ok: true, values };
}
