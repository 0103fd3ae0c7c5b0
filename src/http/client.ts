import { subscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Agent, Dispatcher } from 'undici';

/**
 * The only user of undici. One Agent per run; every request has a deadline
 * covering connect, headers and the whole body, and bodies are read up to a
 * cap and then abandoned, so no target can hang or flood the runner.
 */

type Undici = typeof import('undici');
type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'>;

/**
 * The four parts of undici the client uses. undici's index loads all of it
 * (fetch, WebSocket, caches, mocks, proxies): about 60 ms at every start, a
 * twentieth of an embedded run. The parts are taken from their own modules;
 * where an undici laid out otherwise lacks them, from the index, as before.
 * A test checks that they are the very objects the index exports.
 */
function undiciParts(): { Agent: Undici['Agent']; buildConnector: Undici['buildConnector']; errors: Undici['errors']; send(agent: Agent, url: string, opts: RequestOptions): Promise<Dispatcher.ResponseData> } {
  const require = createRequire(import.meta.url);
  try {
    const apiRequest = require('undici/lib/api/api-request.js') as (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
    const parts = {
      Agent: require('undici/lib/dispatcher/agent.js') as Undici['Agent'],
      buildConnector: require('undici/lib/core/connect.js') as Undici['buildConnector'],
      errors: require('undici/lib/core/errors.js') as Undici['errors'],
    };
    if (typeof apiRequest !== 'function' || typeof parts.Agent !== 'function' || typeof parts.buildConnector !== 'function' || typeof parts.errors.SocketError !== 'function') throw new Error('another layout');
    return {
      ...parts,
      send: (agent, url, opts) => {
        // What undici's request(url, opts) does with a URL before it dispatches.
        const u = new URL(url);
        return apiRequest.call(agent, { ...opts, origin: u.origin, path: `${u.pathname}${u.search}` });
      },
    };
  } catch {
    const undici = require('undici') as Undici;
    return { Agent: undici.Agent, buildConnector: undici.buildConnector, errors: undici.errors, send: (agent, url, opts) => undici.request(url, { ...opts, dispatcher: agent }) };
  }
}

const undici = undiciParts();
const undiciErrors = undici.errors;

/** For tests: the parts the client took from undici. */
export const undiciInUse = undici;

export interface HttpOptions {
  /** Per-request deadline in ms (connect + headers + body). */
  timeoutMs: number;
  /** Bytes of response body kept; the rest is abandoned. */
  maxBodyBytes: number;
  /** Certificates (PEM) to trust instead of the system's, for a target with a private certificate authority. */
  ca?: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Text, or bytes for bodies that are not valid UTF-8 on purpose. */
  body?: string | Uint8Array;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text (UTF-8), cut at maxBodyBytes. */
  text: string;
  truncated: boolean;
  durationMs: number;
  /** Where the time went, in the phases of a HAR entry. */
  timings: Timings;
  /**
   * The start of the body of the request sent before this one on the same
   * connection, when it had one: a server that leaves a body unread reads
   * it as the start of the next request.
   */
  previousBody?: string;
}

/**
 * The phases of one exchange in ms, as HAR 1.2 names them. `connect` is the
 * time to open the connection the request went out on, TLS handshake
 * included; `ssl` is the handshake alone. Both are -1 when the request
 * reused a connection (and `ssl` over plain HTTP). A server slow to accept
 * or to finish the handshake shows here, not in `wait` (over plain HTTP, a
 * connection the kernel completed counts as open, accepted by the server
 * process or not).
 */
export interface Timings {
  blocked: number;
  connect: number;
  ssl: number;
  send: number;
  wait: number;
  receive: number;
}

/** When a connection was opened: its start, its TCP handshake done, its TLS handshake done (= ready). */
interface SocketClock {
  start: number;
  tcp?: number;
  ready: number;
  tls: boolean;
  /** The first request sent on it has taken its connect time; later ones reused it. */
  claimed: boolean;
}

/** The moments of one request, filled by undici's diagnostics channels. */
interface RequestClock {
  start: number;
  /** undici's request object was seen being created (see `creating`); without it nothing more is known of its phases. */
  created?: boolean;
  /** The start of the request's body, for the request sent after it on its connection. */
  body?: string;
  previousBody?: string;
  socket?: SocketClock;
  sent?: number;
  bodySent?: number;
  headers?: number;
}

const socketClocks = new WeakMap<Socket, SocketClock>();
/** The start of the body of the last request sent on each connection. */
const lastBodies = new WeakMap<Socket, string | undefined>();
const BODY_REMEMBERED = 4096;
const requestClocks = new WeakMap<object, RequestClock>();
/**
 * The clock of the request() call under way: undici creates its request object
 * synchronously inside request(), so the channel below sees it within that
 * call. A module variable set around the call, not an AsyncLocalStorage: that
 * would turn on Node's promise hooks for every promise of the process, which
 * cost a quarter of an embedded run's time. A request undici queues for want of
 * a connection (more than `connections` at once to one origin) is created later
 * and gets no clock: its timings then say only how long it took in all.
 */
let creating: RequestClock | undefined;

subscribe('undici:request:create', (m) => {
  const clock = creating;
  if (clock) {
    clock.created = true;
    requestClocks.set((m as { request: object }).request, clock);
  }
});
subscribe('undici:client:sendHeaders', (m) => {
  const { request: r, socket } = m as { request: object; socket: Socket };
  const clock = requestClocks.get(r);
  if (!clock) return;
  clock.sent = performance.now();
  const previous = lastBodies.get(socket);
  if (previous !== undefined) clock.previousBody = previous;
  lastBodies.set(socket, clock.body);
  const s = socketClocks.get(socket);
  if (s && !s.claimed) {
    s.claimed = true;
    clock.socket = s;
  }
});
subscribe('undici:request:bodySent', (m) => {
  const clock = requestClocks.get((m as { request: object }).request);
  if (clock) clock.bodySent = performance.now();
});
subscribe('undici:request:headers', (m) => {
  const clock = requestClocks.get((m as { request: object }).request);
  if (clock) clock.headers = performance.now();
});

const r1 = (n: number): number => Math.round(n * 10) / 10;

/**
 * The phases of a finished (or failed) request. A request that never went
 * out spent its time without a connection to send on: that is `connect`.
 */
function timingsOf(c: RequestClock, end: number): Timings {
  // A request undici queued and created later: its phases were not seen.
  if (!c.created) return { blocked: 0, connect: -1, ssl: -1, send: 0, wait: r1(end - c.start), receive: 0 };
  if (c.sent === undefined) return { blocked: 0, connect: r1(end - c.start), ssl: -1, send: 0, wait: 0, receive: 0 };
  const bodySent = c.bodySent ?? c.sent;
  const headers = c.headers ?? end;
  const send = Math.max(0, bodySent - c.sent);
  const wait = Math.max(0, headers - bodySent);
  const receive = Math.max(0, end - headers);
  const connect = c.socket ? Math.max(0, c.socket.ready - c.socket.start) : -1;
  const ssl = c.socket?.tls && c.socket.tcp !== undefined ? Math.max(0, c.socket.ready - c.socket.tcp) : -1;
  // What is left of the whole is time spent waiting for a connection or a turn on one.
  const blocked = Math.max(0, end - c.start - send - wait - receive - Math.max(0, connect));
  return { blocked: r1(blocked), connect: connect < 0 ? -1 : r1(connect), ssl: ssl < 0 ? -1 : r1(ssl), send: r1(send), wait: r1(wait), receive: r1(receive) };
}

export type TransportErrorCode = 'ERR_HTTP_TIMEOUT' | 'ERR_HTTP_CONNECT' | 'ERR_HTTP_RESET' | 'ERR_HTTP_PROTOCOL' | 'ERR_HTTP_CLOSED';

/** The target did not produce a usable HTTP exchange. Never a conformance verdict by itself. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  /** Where the time went before it failed, when the request was sent by HttpClient. */
  timings?: Timings;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

export class HttpClient {
  readonly options: HttpOptions;
  private readonly agent: Agent;

  constructor(options: HttpOptions) {
    this.options = options;
    const connector = undici.buildConnector({ timeout: options.timeoutMs, ...(options.ca ? { ca: options.ca } : {}) });
    this.agent = new undici.Agent({
      // Each connection's handshakes are timed, so that the first request sent on it can say how long opening it took.
      connect: (opts, callback) => {
        const clock: SocketClock = { start: performance.now(), ready: 0, tls: opts.protocol === 'https:', claimed: false };
        // undici's connector returns the socket it opens (its types say void): its TCP handshake is timed apart from TLS.
        const socket = connector(opts, (err, s) => {
          if (s) {
            clock.ready = performance.now();
            socketClocks.set(s as Socket, clock);
          }
          callback(err, s as never);
        });
        (socket as unknown as Socket | undefined)?.once?.('connect', () => (clock.tcp = performance.now()));
        return socket;
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 64,
    });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body.slice(0, BODY_REMEMBERED) : Buffer.from(req.body.subarray(0, BODY_REMEMBERED)).toString('utf8');
    const clock: RequestClock = { start: started, ...(body ? { body } : {}) };
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const failed = (err: unknown): TransportError => {
      const e = classify(err, this.options.timeoutMs);
      e.timings = timingsOf(clock, performance.now());
      return e;
    };
    let res;
    try {
      creating = clock;
      let answer;
      try {
        answer = undici.send(this.agent, req.url, { method: req.method as 'GET', headers: req.headers, body: req.body, signal });
      } finally {
        creating = undefined;
      }
      res = await answer;
    } catch (err) {
      throw failed(err);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const room = this.options.maxBodyBytes - size;
        // Only a byte past the cap makes a body too large: one of exactly the cap is whole.
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size += room;
          truncated = true;
          break;
        }
        chunks.push(chunk);
        size += chunk.length;
      }
    } catch (err) {
      res.body.destroy();
      throw failed(err);
    }
    // Leaving the loop early does not consume the rest: destroy frees the socket.
    if (truncated) res.body.destroy();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const end = performance.now();
    return { status: res.statusCode, headers, text: Buffer.concat(chunks).toString('utf8'), truncated, durationMs: end - started, timings: timingsOf(clock, end), ...(clock.previousBody !== undefined ? { previousBody: clock.previousBody } : {}) };
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

function classify(err: unknown, timeoutMs: number): TransportError {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return new TransportError('ERR_HTTP_TIMEOUT', `no complete answer within ${timeoutMs} ms`);
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(code)) {
    return new TransportError('ERR_HTTP_CONNECT', `cannot connect (${code})`);
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || err instanceof undiciErrors.SocketError) {
    return new TransportError('ERR_HTTP_RESET', 'the connection was closed before a complete answer');
  }
  return new TransportError('ERR_HTTP_PROTOCOL', `invalid HTTP exchange: ${e.message ?? String(err)}`);
}
