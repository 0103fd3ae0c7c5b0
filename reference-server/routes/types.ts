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
}

export interface AuthedContext extends RouteContext {
  readonly device: Device;
}

interface RouteBase {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Whether app.ts reads the body and requires a JSON object before calling the handler. */
  readonly body: boolean;
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
