/**
 * Display names, the one part of profiles the push rules read
 * (`contains_display_name`): GET and PUT /profile/{userId}/displayname, and GET
 * /profile/{userId}. A display name is the user's in every room (a homeserver
 * copies it into the member event of each room it joins, and updates them all
 * when it changes). No avatars, no other profile fields.
 */
import type { Accounts } from '../accounts.js';
import { jsonType } from '../json.js';
import { matrixError, ok, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route, type RouteContext } from './types.js';

/** Longer names are refused (400 M_TOO_LARGE); Synapse has the same cap. Kept per registered user, so bounded by maxUsers. */
export const MAX_DISPLAY_NAME_LENGTH = 256;

export class Profiles {
  readonly #names = new Map<string, string>();

  displayName(userId: string): string | undefined {
    return this.#names.get(userId);
  }

  /** An empty or absent name clears it. */
  setDisplayName(userId: string, name: string | undefined): void {
    if (name === undefined || name === '') this.#names.delete(userId);
    else this.#names.set(userId, name);
  }
}

export function profileRoutes(profiles: Profiles, accounts: Accounts): Route[] {
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => [
    { method: 'GET', path: `${prefix}/profile/{userId}`, auth: false, body: false, handler: (ctx) => getProfile(profiles, accounts, ctx, false) },
    { method: 'GET', path: `${prefix}/profile/{userId}/displayname`, auth: false, body: false, handler: (ctx) => getProfile(profiles, accounts, ctx, true) },
    { method: 'PUT', path: `${prefix}/profile/{userId}/displayname`, auth: true, body: true, handler: (ctx) => putDisplayName(profiles, ctx) },
  ]);
}

function getProfile(profiles: Profiles, accounts: Accounts, ctx: RouteContext, nameOnly: boolean): HandlerResult {
  const userId = accounts.registeredUserId(ctx.params.userId ?? '');
  if (userId === undefined) return matrixError(404, 'M_NOT_FOUND', 'No such user on this server');
  const displayname = profiles.displayName(userId);
  if (nameOnly && displayname === undefined) return matrixError(404, 'M_NOT_FOUND', `${userId} has no display name`);
  return ok(displayname === undefined ? {} : { displayname });
}

function putDisplayName(profiles: Profiles, ctx: AuthedContext): HandlerResult {
  if (ctx.params.userId !== ctx.device.userId) return matrixError(403, 'M_FORBIDDEN', 'You may only set your own display name');
  const name = ctx.body.displayname;
  if (name !== undefined && name !== null && typeof name !== 'string') return matrixError(400, 'M_BAD_JSON', `'displayname' must be a string, not ${jsonType(name)}`);
  if (typeof name === 'string' && [...name].length > MAX_DISPLAY_NAME_LENGTH) {
    return matrixError(400, 'M_TOO_LARGE', `'displayname' is longer than ${MAX_DISPLAY_NAME_LENGTH} characters`);
  }
  profiles.setDisplayName(ctx.device.userId, typeof name === 'string' ? name : undefined);
  return ok({});
}
