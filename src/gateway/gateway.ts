/**
 * The mock push gateway the runner hosts for delivery cases. It listens on
 * loopback (or --gateway-listen) on a free port, answers POST
 * /_matrix/push/v1/notify as the Push Gateway API describes, and keeps every
 * poke it gets, by pushkey: each case uses pushkeys of its own, so concurrent
 * cases never see each other's pokes. A case may ask it to answer a pushkey
 * with `{"rejected": [...]}` or with a 5xx a number of times.
 *
 * Bounded: bodies over 64 KiB are refused with 413, at most 10 000 pokes are
 * kept (the oldest go first), and requests on other paths get a 404.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { ReceivedExchange, Service } from '../service.js';
import { makeCertificate } from './cert.js';

export const NOTIFY_PATH = '/_matrix/push/v1/notify';
const MAX_BODY = 64 * 1024;
const MAX_POKES = 10_000;

export interface Poke {
  /** performance.now() when it arrived. */
  at: number;
  /** The body, parsed; undefined when it was not JSON. */
  body: unknown;
  /** The body as text. */
  text: string;
  /** Pushkeys of its devices. */
  pushkeys: string[];
  /** The status the gateway answered. */
  answered: number;
  /** performance.now() when the answer was sent (a retry is a poke that arrives after it). */
  answeredAt: number;
}

export interface Answer {
  /** Answer {"rejected": [this pushkey]} (on every poke about an event for it from now on; badge updates as usual). */
  reject?: boolean;
  /** Answer pokes about an event with this status `times` times, then as usual (badge updates are answered as usual). */
  status?: number;
  times?: number;
}

export interface GatewayOptions {
  /** host:port to listen on (default 127.0.0.1 and a free port). */
  listen?: string;
  /** The URL targets are told to use; default: derived from the listening address. */
  url?: string;
  /** Serve HTTPS with a certificate made for the run. */
  tls?: boolean;
}

/** What the gateway answered a poke. */
export interface PokeAnswer {
  status: number;
  body: string;
}

/** The request a poke came in. */
export interface PokeRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  started: Date;
  /** performance.now() when it began to arrive. */
  startedAt: number;
}

export type PokeObserver = (poke: Poke, answer: PokeAnswer, request: PokeRequest) => void;

interface Waiter {
  pushkey: string;
  match: (p: Poke) => boolean;
  resolve: (p: Poke | undefined) => void;
  timer: NodeJS.Timeout;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A badge update: a notification with none of the fields of an event, which
 * the Push Gateway API allows ("the counts may be sent ... by themselves";
 * `event_id` "may be omitted for notifications that only contain updated badge
 * counts"). Only those are never taken for a poke about an event: one that
 * lacks its event_id but names a sender, a type or content is about an event,
 * badly. A `room_id` alone does not make one (nothing forbids it in a counts
 * update), and a field that is null or "" names nothing: Synapse writes its
 * badge updates with `"id": ""`, `"type": null` and `"sender": ""`.
 */
export function isBadgeBody(body: unknown): boolean {
  const n = isObject(body) ? body['notification'] : undefined;
  if (!isObject(n)) return false;
  return ['event_id', 'type', 'sender', 'content'].every((k) => n[k] === undefined || n[k] === null || n[k] === '');
}

/**
 * Whether a poke is for a pushkey: its devices name it, or, for a body that
 * names no device at all (the draft does not say what a poke holds), its text
 * holds the pushkey as a JSON string or as a whole word.
 */
export function isFor(p: Poke, pushkey: string): boolean {
  if (p.pushkeys.length > 0) return p.pushkeys.includes(pushkey);
  if (!p.text.includes(pushkey)) return false;
  const escaped = pushkey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w.~-])${escaped}(?![\\w.~-])`).test(p.text);
}

/** The pushkeys a poke is for: its notification's devices. */
function pushkeysOf(body: unknown): string[] {
  const devices = isObject(body) && isObject(body['notification']) ? body['notification']['devices'] : undefined;
  return Array.isArray(devices) ? devices.filter(isObject).map((d) => d['pushkey']).filter((k): k is string => typeof k === 'string') : [];
}

export class MockGateway implements Service {
  readonly pokes: Poke[] = [];
  private readonly answers = new Map<string, Answer>();
  private readonly waiters = new Set<Waiter>();
  private readonly observers = new Set<PokeObserver>();

  private constructor(
    private readonly server: Server,
    /** The notify URL targets must put in their pushers' data.url. */
    readonly url: string,
    readonly tls: boolean,
    readonly fingerprint: string | undefined,
    private readonly sockets: ReadonlySet<Socket>,
  ) {}

  static async start(options: GatewayOptions = {}): Promise<MockGateway> {
    const [host, port] = parseListen(options.listen);
    let gateway: MockGateway | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => gateway?.handle(req, res);
    const cert = options.tls ? makeCertificate() : undefined;
    const server: Server = cert ? createHttpsServer({ key: cert.key, cert: cert.cert }, handler) : createHttpServer(handler);
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.maxConnections = 256;
    // Every socket, from its first byte: closeAllConnections() does not reach a
    // TLS socket whose handshake never finished, and the run would wait out
    // Node's two-minute handshake timeout before it could exit.
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port} (${err.code ?? err.message})`)));
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    server.on('error', () => undefined);
    const addr = server.address() as AddressInfo;
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const url = options.url ?? `${cert ? 'https' : 'http'}://${shownHost}:${addr.port}${NOTIFY_PATH}`;
    gateway = new MockGateway(server, url, cert !== undefined, cert?.fingerprint, sockets);
    return gateway;
  }

  value(key: string): unknown {
    return key === 'url' ? this.url : undefined;
  }

  /** Calls `listener` with each poke kept, once it is answered (for the trace and the exchanges of a case). */
  onPoke(listener: PokeObserver): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  observe(listener: (x: ReceivedExchange) => void): () => void {
    return this.onPoke((poke, answer, request) => {
      const ms = poke.answeredAt - request.startedAt;
      listener({
        req: { method: request.method, url: request.url, headers: request.headers, body: poke.text },
        res: { status: answer.status, headers: { 'content-type': 'application/json' }, text: answer.body, truncated: false, durationMs: ms, timings: { blocked: -1, connect: -1, ssl: -1, send: 0, wait: Math.max(0, ms), receive: 0 } },
        started: request.started,
        at: request.startedAt,
        keys: poke.pushkeys,
      });
    });
  }

  /** How to answer pokes for a pushkey from now on. */
  answer(pushkey: string, a: Answer): void {
    this.answers.set(pushkey, { ...a });
  }

  /** Pokes for a pushkey so far. */
  pokesFor(pushkey: string): Poke[] {
    return this.pokes.filter((p) => isFor(p, pushkey));
  }

  /** The first poke for `pushkey` that `match` accepts, among those kept or those to come within `timeoutMs`. */
  waitFor(pushkey: string, match: (p: Poke) => boolean, timeoutMs: number, since = 0): Promise<Poke | undefined> {
    const seen = this.pokes.find((p) => p.at >= since && isFor(p, pushkey) && match(p));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        pushkey,
        match,
        resolve: (p) => {
          clearTimeout(waiter.timer);
          this.waiters.delete(waiter);
          resolve(p);
        },
        timer: setTimeout(() => waiter.resolve(undefined), timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const request: PokeRequest = { method: req.method ?? '', url: this.url, headers: headersOf(req), started: new Date(), startedAt: performance.now() };
    let answered = '';
    // The target may be in origin form (/path) or absolute form (http://host/path), which a server must accept (RFC 9112 3.2.2).
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://gateway.invalid').pathname;
    } catch {
      path = '';
    }
    const send = (status: number, body: unknown): void => {
      answered = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(answered);
    };
    if (path !== NOTIFY_PATH) {
      req.resume();
      return send(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    }
    if (req.method !== 'POST') {
      req.resume();
      return send(405, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) over = true;
      else chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (over) return send(413, { errcode: 'M_TOO_LARGE', error: 'body over 64 KiB' });
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const pushkeys = pushkeysOf(body);
      let status = 200;
      const rejected: string[] = [];
      // A told failure or rejection is for notifications about an event: badge updates, which a server may
      // send at any time (Synapse does after receipts), are answered as usual and use none of it up.
      const badge = isBadgeBody(body);
      for (const k of pushkeys) {
        const a = this.answers.get(k);
        if (!a) continue;
        if (!badge && a.status !== undefined && (a.times ?? 1) > 0) {
          status = a.status;
          a.times = (a.times ?? 1) - 1;
        }
        if (a.reject && !badge) rejected.push(k);
      }
      const poke: Poke = { at: performance.now(), body, text, pushkeys, answered: status, answeredAt: Infinity };
      this.pokes.push(poke);
      if (this.pokes.length > MAX_POKES) this.pokes.shift();
      if (status >= 400) send(status, { errcode: 'M_UNKNOWN', error: 'the mock gateway was told to fail' });
      else send(200, { rejected });
      poke.answeredAt = performance.now();
      for (const o of this.observers) o(poke, { status, body: answered }, request);
      for (const w of [...this.waiters]) if (isFor(poke, w.pushkey) && w.match(poke)) w.resolve(poke);
    });
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w.resolve(undefined);
    this.server.closeAllConnections?.();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A request's headers as one string each (repeated ones joined). */
function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function parseListen(listen: string | undefined): [string, number] {
  if (!listen) return ['127.0.0.1', 0];
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--gateway-listen takes HOST:PORT, got ${listen}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--gateway-listen: port ${port} is past 65535`);
  return [m[1] ?? m[2] ?? '127.0.0.1', port];
}
