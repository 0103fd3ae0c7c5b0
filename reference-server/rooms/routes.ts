/**
 * The smallest part of the client-server room API that push delivery needs:
 * create a room, invite, join, leave, send a message event, send a read receipt.
 * No state events, no sync, no history, no aliases, no federation.
 */
import type { Accounts } from '../accounts.js';
import { jsonType, type Json, type JsonObject } from '../json.js';
import { resourceLimitExceeded, type Limits, type RoomLimits } from '../limits.js';
import { matrixError, ok, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route } from '../routes/types.js';
import type { JoinRule, RoomRefusal, Rooms } from './rooms.js';

/** A message event as delivery needs it: what the notification describes. */
export interface MessageEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly type: string;
  readonly sender: string;
  /** The content as JSON text, as sent. */
  readonly contentJson: string;
  /** Its size in UTF-8 bytes. */
  readonly contentBytes: number;
}

/** Someone to notify of a message, and their unread count once it arrived. */
export interface Recipient {
  readonly userId: string;
  readonly unread: number;
}

/** Called once for every fresh message that notifies someone, after the room has taken it. */
export type OnMessage = (event: MessageEvent, recipients: readonly Recipient[]) => void;

/** The spec's limit on an event type (and on room and event ids), in UTF-8 bytes. */
const MAX_ID_BYTES = 255;

const PRESETS: ReadonlyMap<string, JoinRule> = new Map([
  ['private_chat', 'invite'],
  ['trusted_private_chat', 'invite'],
  ['public_chat', 'public'],
]);

/**
 * The default push rules, reduced to what this server implements: a message
 * (m.room.message, m.room.encrypted, or any event whose content has a string
 * `body`) notifies every other joined member. Nothing else notifies.
 */
export function isMessage(type: string, content: JsonObject): boolean {
  return type === 'm.room.message' || type === 'm.room.encrypted' || typeof content.body === 'string';
}

export function roomRoutes(rooms: Rooms, accounts: Accounts, limits: Limits, roomLimits: RoomLimits, onMessage: OnMessage): Route[] {
  const refused = (refusal: RoomRefusal, roomId: string): HandlerResult => refusalError(refusal, roomId, limits, roomLimits);
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => [
    { method: 'POST', path: `${prefix}/createRoom`, auth: true, body: true, handler: (ctx) => createRoom(rooms, accounts, refused, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/invite`, auth: true, body: true, handler: (ctx) => invite(rooms, accounts, refused, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/join`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => join(rooms, refused, ctx, param(ctx, 'roomId')) },
    { method: 'POST', path: `${prefix}/join/{roomIdOrAlias}`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => joinByIdOrAlias(rooms, refused, ctx) },
    { method: 'POST', path: `${prefix}/rooms/{roomId}/leave`, auth: true, body: true, emptyBodyIsObject: true, handler: (ctx) => leave(rooms, refused, ctx) },
    { method: 'PUT', path: `${prefix}/rooms/{roomId}/send/{eventType}/{txnId}`, auth: true, body: true, handler: (ctx) => send(rooms, refused, onMessage, ctx) },
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

function createRoom(rooms: Rooms, accounts: Accounts, refused: Refused, ctx: AuthedContext): HandlerResult {
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
    const user = inviteeOf(accounts, entry, `invite[${index}]`);
    if (typeof user !== 'string') return user;
    if (user !== creator) invites.add(user);
  }
  const created = rooms.create(creator, joinRule, [...invites]);
  if ('code' in created) return refused(created, '');
  return ok({ room_id: created.roomId });
}

function invite(rooms: Rooms, accounts: Accounts, refused: Refused, ctx: AuthedContext): HandlerResult {
  const fields = readFields(ctx.body, { user_id: 'string', reason: 'string' });
  if (!fields.ok) return fields.error;
  const userId = fields.values.user_id;
  if (userId === undefined) return matrixError(400, 'M_MISSING_PARAM', "missing field 'user_id'");
  const user = inviteeOf(accounts, userId as string, 'user_id');
  if (typeof user !== 'string') return user;
  const roomId = param(ctx, 'roomId');
  const refusal = rooms.invite(roomId, ctx.device.userId, user);
  return refusal === undefined ? ok({}) : refused(refusal, roomId);
}

function join(rooms: Rooms, refused: Refused, ctx: AuthedContext, roomId: string): HandlerResult {
  const fields = readFields(ctx.body, { reason: 'string' });
  if (!fields.ok) return fields.error;
  const refusal = rooms.join(roomId, ctx.device.userId);
  return refusal === undefined ? ok({ room_id: roomId }) : refused(refusal, roomId);
}

function joinByIdOrAlias(rooms: Rooms, refused: Refused, ctx: AuthedContext): HandlerResult {
  const target = param(ctx, 'roomIdOrAlias');
  if (target.startsWith('#')) return matrixError(404, 'M_NOT_FOUND', `Room alias ${target} not found: this server has no room aliases`);
  if (!target.startsWith('!')) return matrixError(400, 'M_INVALID_PARAM', `${JSON.stringify(target)} is neither a room id (!…) nor a room alias (#…)`);
  return join(rooms, refused, ctx, target);
}

function leave(rooms: Rooms, refused: Refused, ctx: AuthedContext): HandlerResult {
  const fields = readFields(ctx.body, { reason: 'string' });
  if (!fields.ok) return fields.error;
  const roomId = param(ctx, 'roomId');
  const refusal = rooms.leave(roomId, ctx.device.userId);
  return refusal === undefined ? ok({}) : refused(refusal, roomId);
}

function send(rooms: Rooms, refused: Refused, onMessage: OnMessage, ctx: AuthedContext): HandlerResult {
  const roomId = param(ctx, 'roomId');
  const type = param(ctx, 'eventType');
  if (Buffer.byteLength(type, 'utf8') > MAX_ID_BYTES) return matrixError(400, 'M_INVALID_PARAM', `eventType: must not be longer than ${MAX_ID_BYTES} bytes in UTF-8`);
  const message = isMessage(type, ctx.body);
  const sent = rooms.send(roomId, ctx.device.userId, ctx.device.deviceId, param(ctx, 'txnId'), message);
  if ('code' in sent) return refused(sent, roomId);
  if (sent.fresh && sent.notify.length > 0) {
    const contentJson = JSON.stringify(ctx.body);
    const event: MessageEvent = { eventId: sent.eventId, roomId, type, sender: ctx.device.userId, contentJson, contentBytes: Buffer.byteLength(contentJson, 'utf8') };
    // Counted now, with the message in: what the user has unread once it arrived.
    onMessage(
      event,
      sent.notify.map((userId) => ({ userId, unread: rooms.unreadTotal(userId) })),
    );
  }
  return ok({ event_id: sent.eventId });
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
