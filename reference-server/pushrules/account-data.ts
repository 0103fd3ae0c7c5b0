/**
 * The account data API, as far as push rules need it: from v1.10 "servers MUST
 * reject setting account data for event types that the server manages", with
 * 405 and M_BAD_JSON, and `m.push_rules` is one of them (`m.fully_read` the
 * other). This server keeps no account data of any other type: setting one is
 * 404 M_UNRECOGNIZED, as for an endpoint it does not implement.
 */
import { matrixError, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route } from '../routes/types.js';

const SERVER_MANAGED: ReadonlySet<string> = new Set(['m.push_rules', 'm.fully_read']);

export function accountDataRoutes(): Route[] {
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => [
    { method: 'PUT', path: `${prefix}/user/{userId}/account_data/{type}`, auth: true, body: true, handler: setAccountData },
    { method: 'PUT', path: `${prefix}/user/{userId}/rooms/{roomId}/account_data/{type}`, auth: true, body: true, handler: setAccountData },
  ]);
}

function setAccountData(ctx: AuthedContext): HandlerResult {
  if (ctx.params.userId !== ctx.device.userId) return matrixError(403, 'M_FORBIDDEN', 'Cannot add account data for other users');
  const type = ctx.params.type ?? '';
  if (SERVER_MANAGED.has(type)) return matrixError(405, 'M_BAD_JSON', `${type} is managed by the server: it cannot be set through the account data API${type === 'm.push_rules' ? ' (use /pushrules/)' : ''}`);
  return matrixError(404, 'M_UNRECOGNIZED', 'This server keeps no account data: only refusing the types the server manages is implemented');
}
