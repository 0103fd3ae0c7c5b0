import type { IncomingHttpHeaders } from 'node:http';
import type { Accounts, Device } from './accounts.js';
import { matrixError, type HandlerResult } from './result.js';

export type Authentication = { ok: true; device: Device } | { ok: false; error: HandlerResult };

/**
 * Finds the caller's device from `Authorization: Bearer <token>` or, as the
 * client-server API also allows, the `access_token` query parameter. The header
 * wins when both are present.
 */
export function authenticate(accounts: Accounts, headers: IncomingHttpHeaders, query: URLSearchParams): Authentication {
  const token = tokenFrom(headers, query);
  if (token === undefined) return { ok: false, error: matrixError(401, 'M_MISSING_TOKEN', 'Missing access token') };
  const device = accounts.deviceForToken(token);
  if (device === undefined) return { ok: false, error: matrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token') };
  return { ok: true, device };
}

function tokenFrom(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers.authorization;
  if (header !== undefined) {
    // A header that is not a Bearer credential carries no token we can use.
    const match = /^Bearer +(\S+) *$/i.exec(header);
    return match?.[1];
  }
  const fromQuery = query.get('access_token');
  return fromQuery === null || fromQuery === '' ? undefined : fromQuery;
}
