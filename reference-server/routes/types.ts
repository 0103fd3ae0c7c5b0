import type { IncomingHttpHeaders } from 'node:http';
import type { Device } from '../accounts.js';
import type { JsonObject } from '../json.js';
import type { HandlerResult } from '../result.js';

export interface RouteContext {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The request body, already parsed and known to be a JSON object; {} for routes without a body. */
  readonly body: JsonObject;
  /**
   * The values of the `{name}` segments of the route's path, percent-decoded;
   * empty for routes with a fixed path.
   */
  readonly params: Readonly<Record<string, string>>;
}

export interface AuthedContext extends RouteContext {
  readonly device: Device;
}

interface RouteBase {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /**
   * The path, matched as sent (no normalisation). A segment written `{name}`
   * matches any one non-empty segment, whose percent-decoded value the handler
   * finds in `ctx.params.name`; every other segment must match exactly.
   */
  readonly path: string;
  /** Whether app.ts reads the body and requires a JSON object before calling the handler. */
  readonly body: boolean;
  /**
   * With `body`: an empty body (no bytes at all) is read as `{}`, for endpoints
   * whose every field is optional and which clients have long called without
   * one (join, leave, receipts). Anything else must still be a JSON object.
   */
  readonly emptyBodyIsObject?: boolean;
}

/**
 * Handlers are synchronous: everything that can wait (reading the body) happens
 * before they run, so each one's read-modify-write on the stores is atomic.
 */
export type Route =
  | (RouteBase & { readonly auth: true; readonly handler: (ctx: AuthedContext) => HandlerResult })
  | (RouteBase & { readonly auth: false; readonly handler: (ctx: RouteContext) => HandlerResult });

/** The client-server prefixes the current and the previous stable API live under. */
export const CLIENT_PREFIXES = ['/_matrix/client/v3', '/_matrix/client/r0'] as const;
