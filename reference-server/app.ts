import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Accounts, type Device } from './accounts.js';
import { authenticate } from './auth.js';
import { readJsonObject } from './body.js';
import type { JsonObject } from './json.js';
import { checkCap, DEFAULT_DELIVERY_LIMITS, DEFAULT_LIMITS, DEFAULT_ROOM_LIMITS, resolveDeliveryLimits, resolveLimits, resolveRoomLimits } from './limits.js';
import { packageInfo } from './paths.js';
import { PushDelivery } from './push/delivery.js';
import { createPushRules, type PushRuleOptions, type PushRulesContext, type PushRulesModule } from './pushrules/index.js';
import { JsonText, matrixError, type HandlerResult } from './result.js';
import { Rooms } from './rooms/rooms.js';
import { roomRoutes } from './rooms/routes.js';
import { accountRoutes } from './routes/account.js';
import { profileRoutes, Profiles } from './routes/profile.js';
import { draftPusherRoutes } from './routes/pushers-draft.js';
import { v1PusherRoutes } from './routes/pushers-v1.js';
import type { Route, RouteContext } from './routes/types.js';
import { MemoryPusherStore, PusherStorage } from './store/memory.js';
import { loadValidators } from './validate.js';
import { defaultVersions } from './versions.js';

/**
 * Options of the request listener. Every cap bounds memory the server keeps for as
 * long as it runs; each is a positive integer, or Infinity to lift it. When a cap is
 * reached, the request that would pass it is refused and changes nothing; every other
 * request is still served:
 *
 * - maxUsers, maxSessions, maxPushersPerUser, maxPusherStorageBytes: 403
 *   M_RESOURCE_LIMIT_EXCEEDED, with `admin_contact` (adminContact) as the spec requires.
 *   Not 429 M_LIMIT_EXCEEDED: that is a rate limit, which clients wait out and retry,
 *   and waiting does not make room on a full server.
 * - maxPusherDataBytes, maxPusherBytes: 400 M_TOO_LARGE (the body as a whole was read;
 *   one part of it is too large to keep). A body over maxBodyBytes is 413 M_TOO_LARGE.
 *
 * The defaults (DEFAULT_LIMITS in limits.ts, where each is justified) leave room for
 * hundreds of full conformance runs in one `npx conformance serve` session; see
 * reference-server/README.md for the worst case they allow. The push rules' own
 * options and caps are described in pushrules/limits.ts.
 */
export interface AppOptions extends PushRuleOptions {
  /** Largest request body read, in bytes; larger ones get 413 M_TOO_LARGE. Default 64 KiB. */
  maxBodyBytes?: number;
  /** The server name in user ids (`@name:<serverName>`). Default "localhost". */
  serverName?: string;
  /** Receives one line per request. */
  log?: (line: string) => void;
  /**
   * The versions GET /_matrix/client/versions advertises. Default: the last r0
   * and every v1 version listed in spec/editions.yaml, the newest the suite
   * models. The server behaves the same whatever it advertises, except for
   * the few push-rule behaviours no single reading satisfies in every version:
   * those follow the newest v1 version advertised (see pushRulesVersion).
   */
  versions?: readonly string[];
  /** Registered users. Default 10 000 (a full run registers about 20). */
  maxUsers?: number;
  /** Open access tokens, one per login or registration; POST /logout frees one. Default 100 000. */
  maxSessions?: number;
  /** Pushers one user may hold in each edition; an update in place is always allowed. Default 100. */
  maxPushersPerUser?: number;
  /** A pusher's `data`, serialised as JSON, in UTF-8 bytes. Default 8 KiB. */
  maxPusherDataBytes?: number;
  /** A whole pusher as GET /pushers lists it, serialised as JSON, in UTF-8 bytes. Default 16 KiB. */
  maxPusherBytes?: number;
  /**
   * All pushers of all users in both editions, each counted as its serialised size
   * plus 2 KiB for its keys and indexes. Default 32 MiB.
   */
  maxPusherStorageBytes?: number;
  /** The `admin_contact` of M_RESOURCE_LIMIT_EXCEEDED answers. Default "mailto:admin@localhost". */
  adminContact?: string;
  /**
   * Verify the TLS certificates of push gateways (default true). The embedded
   * run turns it off: its mock gateway's certificate is made for the run, as
   * a test setup of Dendrite sets push_gateway_disable_tls_validation.
   */
  pushTlsVerify?: boolean;
  /**
   * Hosts notifications may be sent to besides loopback (127.0.0.0/8, ::1 and
   * `localhost`, which must resolve to loopback): host names or IP addresses as
   * they appear in a pusher's data.url, or "*" for any host. Default none: a
   * pusher's URL is chosen by any client, and without this rule the server could
   * be made to send requests anywhere it can reach.
   */
  pushAllowHosts?: readonly string[];
  /** Rooms that exist at once, server-wide. Default 1000 (a delivery case holds one for a few seconds). */
  maxRooms?: number;
  /** Rooms one user is joined to or invited to. Default 100. */
  maxRoomsPerUser?: number;
  /** Members of one room, joined and invited. Default 100. */
  maxRoomMembers?: number;
  /** Events one room keeps, the newest (what receipts can name). Default 100. */
  maxRoomEvents?: number;
  /** Notifications waiting for one pusher; past it the oldest waiting one is dropped. Default 100. */
  maxPushQueuePerPusher?: number;
  /** Notifications waiting in all, each counted as its content's JSON bytes + 512; past it new ones are dropped. Default 16 MiB. */
  maxPushQueueBytes?: number;
  /**
   * Waits before the second, third, … try of a notification the gateway failed
   * (their number + 1 is the most tries). Default 0.5, 1, 2 and 4 s; the
   * embedded run and the project's tests use shorter ones.
   */
  pushRetryDelaysMs?: readonly number[];
  /**
   * Another push rules module in place of pushrules/: its routes and the policy
   * delivery asks. For the project's tests, which prove the cases pass against
   * a push rules implementation written apart from this server's.
   */
  pushRulesModule?: (context: PushRulesContext) => PushRulesModule;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
export { DEFAULT_DELIVERY_LIMITS, DEFAULT_LIMITS, DEFAULT_ROOM_LIMITS };

/** The request listener, and a way to stop what it runs in the background (push delivery). */
export interface App {
  readonly listener: RequestListener;
  /** Resolves once no notification waits, is being sent or waits to be tried again. */
  pushIdle(): Promise<void>;
  /** Stops push delivery: timers cleared, open requests to gateways cut, queues forgotten. */
  close(): void;
}

/**
 * The reference server as a node:http request listener, with fresh in-memory
 * state. The v1 and draft editions get separate stores: their rules conflict
 * (a v1 set without `append` deletes other users' pushers with the same
 * app_id+pushkey, which the draft never specified, and draft handles mean
 * nothing to v1), and keeping them apart lets each edition be judged on its own.
 * They share one storage budget, so that maxPusherStorageBytes bounds the server.
 */
export function createApp(options: AppOptions = {}): RequestListener {
  return buildApp(options).listener;
}

/**
 * createApp, with the handle that stops push delivery (createServer's close()
 * calls it). Without it, delivery's timers do not keep a process alive, and an
 * open request to a gateway lasts at most its 10 s deadline.
 *
 * Rooms exist only for delivery: an event in a room is evaluated against the
 * push rules of each other member, and those it notifies are sent a
 * notification at each of their http pushers of both editions.
 */
export function buildApp(options: AppOptions = {}): App {
  const limits = resolveLimits(options);
  const roomLimits = resolveRoomLimits(options);
  const deliveryLimits = resolveDeliveryLimits(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (maxBodyBytes !== Infinity) checkCap('maxBodyBytes', maxBodyBytes);
  const serverName = options.serverName ?? 'localhost';
  const accounts = new Accounts(serverName, limits);
  const validators = loadValidators();
  const storage = new PusherStorage(limits.maxPusherStorageBytes);
  const store = (): MemoryPusherStore => new MemoryPusherStore({ maxPushersPerUser: limits.maxPushersPerUser, storage });
  const v1Store = store();
  const draftStore = store();
  const log = safeLog(options.log);
  const versions = options.versions ?? defaultVersions();
  const profiles = new Profiles();
  const rulesContext: PushRulesContext = { advertised: versions, limits, displayName: (userId) => profiles.displayName(userId) };
  const pushRules = options.pushRulesModule ? options.pushRulesModule(rulesContext) : createPushRules(options, rulesContext);
  const delivery = new PushDelivery({
    policy: pushRules.policy,
    sources: [
      { name: 'v1', store: v1Store },
      { name: 'draft', store: draftStore },
    ],
    limits: deliveryLimits,
    tlsVerify: options.pushTlsVerify ?? true,
    allowHosts: options.pushAllowHosts ?? [],
    userAgent: serverHeader(),
    log,
    ...(options.pushRetryDelaysMs ? { retryDelaysMs: checkDelays(options.pushRetryDelaysMs) } : {}),
  });
  const rooms = new Rooms(serverName, roomLimits);
  const routes: Route[] = [
    ...accountRoutes(accounts, versions, limits),
    ...profileRoutes(profiles, accounts),
    ...pushRules.routes,
    ...v1PusherRoutes(v1Store, validators, limits),
    ...draftPusherRoutes(draftStore, validators, limits),
    ...roomRoutes(rooms, accounts, limits, roomLimits, (event, recipients, facts) => delivery.notify(event, recipients, facts)),
  ];
  const listener = createHandler(routes, accounts, {
    maxBodyBytes,
    serverHeader: serverHeader(),
    log: options.log,
  });
  return { listener, pushIdle: () => delivery.idle(), close: () => delivery.close() };
}

/** Retry delays: at most 10, each a whole number of milliseconds up to a minute. */
function checkDelays(delays: readonly number[]): readonly number[] {
  if (delays.length > 10 || delays.some((d) => !Number.isInteger(d) || d < 0 || d > 60_000)) throw new RangeError('reference server: pushRetryDelaysMs takes at most 10 whole numbers of milliseconds from 0 to 60000');
  return [...delays];
}

/** A logger that never throws, and does nothing without a log option. */
function safeLog(log: ((line: string) => void) | undefined): (line: string) => void {
  return (line) => {
    try {
      log?.(line);
    } catch {
      // A failing logger must not take delivery, or the process, down with it.
    }
  };
}

interface HandlerOptions {
  maxBodyBytes: number;
  serverHeader: string;
  log: ((line: string) => void) | undefined;
}

/**
 * Method/path dispatch over a fixed route table: fixed paths by lookup, then
 * paths with `{name}` segments in the order given.
 */
export function createHandler(routes: readonly Route[], accounts: Accounts, options: HandlerOptions): RequestListener {
  const table = new RouteTable(routes);
  const log = safeLog(options.log);

  const send = (req: IncomingMessage, res: ServerResponse, result: HandlerResult, path: string): void => {
    if (res.headersSent || res.destroyed) return;
    let payload: string;
    try {
      payload = result.body instanceof JsonText ? result.body.text : JSON.stringify(result.body);
    } catch {
      // Unreachable with the depth cap on request bodies, but a 500 beats a crash.
      result = matrixError(500, 'M_UNKNOWN', 'response could not be serialised');
      payload = JSON.stringify(result.body);
    }
    try {
      res.writeHead(result.status, {
        ...result.headers,
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(payload),
        Server: options.serverHeader,
        'Cache-Control': 'no-store',
      });
      res.end(payload);
    } catch {
      // Only a socket already torn down gets here; nothing is left to answer.
      res.destroy();
      return;
    }
    // The query string is left out: it may hold an access token.
    log(`${req.method ?? '?'} ${path} ${result.status}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { path, query } = splitTarget(req.url ?? '/');
    const found = table.find(path);
    if (found === undefined) {
      return send(req, res, matrixError(404, 'M_UNRECOGNIZED', `Unrecognized request: no endpoint at ${path}`), path);
    }
    const { byMethod, params } = found;
    if (params === undefined) {
      // A segment the route reads whose percent-escapes do not decode names nothing.
      return send(req, res, matrixError(400, 'M_INVALID_PARAM', `malformed percent-escape in ${path}`), path);
    }
    // HEAD is GET without a body; node:http drops the body itself.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    const route = byMethod.get(method);
    if (route === undefined) {
      const allow = [...byMethod.keys()].join(', ');
      const result = matrixError(405, 'M_UNRECOGNIZED', `Unrecognized request: ${path} accepts ${allow}, not ${req.method ?? '?'}`);
      return send(req, res, { ...result, headers: { Allow: allow } }, path);
    }
    // Authentication comes before the body, as homeservers do: no token means 401 whatever the body.
    let device: Device | undefined;
    if (route.auth) {
      const auth = authenticate(accounts, req.headers, query);
      if (!auth.ok) return send(req, res, auth.error, path);
      device = auth.device;
    }
    let body: JsonObject = {};
    if (route.body) {
      const read = await readJsonObject(req, options.maxBodyBytes, route.emptyBodyIsObject === true);
      if ('aborted' in read) return;
      if (!read.ok) return send(req, res, read.error, path);
      body = read.value;
    }
    // From here to send() nothing awaits: the handler's store update is atomic.
    send(req, res, invoke(route, { method, path, query, headers: req.headers, body, params }, device), path);
  };

  return (req, res) => {
    // Aborted clients surface as stream errors; the response simply goes nowhere.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    handle(req, res).catch((error: unknown) => {
      const path = splitTarget(req.url ?? '/').path;
      log(`internal error on ${req.method ?? '?'} ${path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      send(req, res, matrixError(500, 'M_UNKNOWN', 'Internal server error'), path);
    });
  };
}

interface Pattern {
  /** The path's segments; `undefined` where a `{name}` segment is, with its name in `names`. */
  readonly literals: readonly (string | undefined)[];
  readonly names: readonly (string | undefined)[];
  readonly byMethod: Map<string, Route>;
}

/** The routes by path, and the `{name}` patterns among them. */
class RouteTable {
  readonly #fixed = new Map<string, Map<string, Route>>();
  /** Patterns by their number of segments (only those can match), each list in the order given. */
  readonly #patterns = new Map<number, Pattern[]>();

  constructor(routes: readonly Route[]) {
    const byPath = new Map<string, Map<string, Route>>();
    for (const route of routes) {
      let byMethod = byPath.get(route.path);
      if (byMethod === undefined) {
        byMethod = new Map();
        byPath.set(route.path, byMethod);
      }
      if (byMethod.has(route.method)) throw new Error(`reference server: two routes for ${route.method} ${route.path}`);
      byMethod.set(route.method, route);
    }
    for (const [path, byMethod] of byPath) {
      const segments = path.split('/');
      const names = segments.map((segment) => /^\{([A-Za-z]+)\}$/.exec(segment)?.[1]);
      if (names.every((name) => name === undefined)) {
        this.#fixed.set(path, byMethod);
      } else {
        const sameLength = this.#patterns.get(segments.length) ?? [];
        sameLength.push({ literals: segments.map((segment, i) => (names[i] === undefined ? segment : undefined)), names, byMethod });
        this.#patterns.set(segments.length, sameLength);
      }
    }
  }

  /**
   * The routes at this path and the decoded values of its `{name}` segments, or
   * undefined for no route; `params` is undefined when a segment would not decode.
   */
  find(path: string): { byMethod: Map<string, Route>; params: Record<string, string> | undefined } | undefined {
    const fixed = this.#fixed.get(path);
    if (fixed !== undefined) return { byMethod: fixed, params: {} };
    const segments = path.split('/');
    for (const pattern of this.#patterns.get(segments.length) ?? []) {
      if (!pattern.literals.every((literal, i) => (literal === undefined ? segments[i] !== '' : literal === segments[i]))) continue;
      const params: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [i, name] of pattern.names.entries()) {
        if (name === undefined) continue;
        try {
          params[name] = decodeURIComponent(segments[i] ?? '');
        } catch {
          return { byMethod: pattern.byMethod, params: undefined };
        }
      }
      return { byMethod: pattern.byMethod, params };
    }
    return undefined;
  }
}

function invoke(route: Route, ctx: RouteContext, device: Device | undefined): HandlerResult {
  if (!route.auth) return route.handler(ctx);
  // handle() authenticates every auth route before calling here.
  if (device === undefined) return matrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  return route.handler({ ...ctx, device });
}

/**
 * Splits the request target without URL normalisation, so that `//x` or `/a/../b`
 * are matched as sent (and unknown) rather than rewritten into a known path.
 */
function splitTarget(target: string): { path: string; query: URLSearchParams } {
  let rest = target;
  // Absolute-form targets (`GET http://host/path`) are legal HTTP/1.1.
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(rest);
  if (absolute !== null) rest = rest.slice(absolute[0].length) || '/';
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  return q === -1 ? { path: rest, query: new URLSearchParams() } : { path: rest.slice(0, q), query: new URLSearchParams(rest.slice(q + 1)) };
}

/**
 * Requests node:http cannot parse (an unknown method, broken framing, huge
 * headers) never reach the listener; answer them with a Matrix error too.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, errcode, what] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'M_TOO_LARGE', 'request line and headers too large']
        : error.code === 'HPE_INVALID_METHOD'
          ? [405, 'Method Not Allowed', 'M_UNRECOGNIZED', 'malformed HTTP request']
          : // headersTimeout or requestTimeout ran out (index.ts); Matrix has no errcode of its own for it.
            error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'M_UNKNOWN', 'request not received in time']
            : [400, 'Bad Request', 'M_UNRECOGNIZED', 'malformed HTTP request'];
    const body = JSON.stringify({ errcode, error: `${what} (${error.code ?? 'unknown'})` });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nServer: ${serverHeader()}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/**
 * A safety limit of the service, not a rule of the spec: one client address
 * may hold at most `max` connections, so that it cannot take every one of
 * the server's (maxConnections) from other clients. A connection past the
 * limit is answered 429 M_LIMIT_EXCEEDED on its first request, with a wait
 * (the runner waits it out, as any rate limit) and `Connection: close`; one
 * that has not been answered within a second is closed. Returns the request listener
 * to install: `listener` for connections within the limit.
 */
export function limitConnectionsPerAddress(server: Server, max: number, listener: RequestListener): RequestListener {
  const open = new Map<string, number>();
  const over = new WeakSet<Socket>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
    if (count > max) {
      over.add(socket);
      // A hard bound, not an idle one: dripping a byte now and then does not keep it.
      const bound = setTimeout(() => socket.destroy(), 1000);
      bound.unref();
      socket.once('close', () => clearTimeout(bound));
    }
  });
  return (req, res) => {
    if (!over.has(req.socket)) return listener(req, res);
    req.resume();
    const body = JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED', error: `too many connections from your address (at most ${max} at once); try again once some have closed`, retry_after_ms: 1000 });
    res.writeHead(429, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), server: serverHeader(), connection: 'close', 'retry-after': '1' });
    res.end(body);
  };
}

/** The `Server` header: the reference server and the package version it ships in. */
export function serverHeader(): string {
  const { name, version } = packageInfo();
  return `${name}-reference-server/${version}`;
}
