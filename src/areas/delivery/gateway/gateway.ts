/**
 * The mock push gateway the runner hosts for delivery cases. It listens on
 * loopback (or --gateway-listen) on a free port, answers POST
 * /_matrix/push/v1/notify as the Push Gateway API describes, and keeps the
 * pokes it gets, by pushkey: each case uses pushkeys of its own, so concurrent
 * cases never see each other's pokes. A case may ask it to answer a pushkey
 * with `{"rejected": [...]}` or with a 5xx a number of times.
 *
 * Bounded against a target that floods it (any local user can reach the
 * port): bodies over 64 KiB are refused with 413; only pokes whose text holds
 * the run's id (every pushkey of the run does) are kept whole, up to
 * MAX_KEPT_BYTES of text in all (past it the oldest become summaries), and a
 * poke is parsed only when a case reads it. Of every other poke a summary is
 * kept, the newest MAX_SUMMARIES: when it came, its size, its first bytes
 * escaped and the pushkeys it names, so that a server poking the wrong
 * pushkey stays diagnosable. Requests on other paths get a 404.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { ReceivedExchange, Service } from '../../../service.js';
import { jsonDepth, MAX_JSON_DEPTH } from '../../../json.js';
import { escapeForTerminal } from '../../../text.js';
import { makeCertificate } from './cert.js';
import { DeliveryTiming, type TimingOptions } from './timing.js';

export const NOTIFY_PATH = '/_matrix/push/v1/notify';
const MAX_BODY = 64 * 1024;
/** Text of the pokes kept whole, in all. */
export const MAX_KEPT_BYTES = 16 * 1024 * 1024;
/** Pokes kept whole, at most (the oldest go first). */
const MAX_POKES = 10_000;
/** Summaries of pokes not kept whole: the newest this many. */
export const MAX_SUMMARIES = 1000;
/** A parsed body is kept with its poke up to this size of text; larger ones are parsed again when read. */
const CACHED_PARSE_BYTES = 16 * 1024;
/** Of a poke not kept whole: this many bytes shown, this many pushkeys named, each cut to this length. */
const SUMMARY_HEAD_BYTES = 200;
const SUMMARY_PUSHKEYS = 8;
const SUMMARY_PUSHKEY_CHARS = 128;

/** Body buffers kept for use again: as many as bodies usually arrive at once. */
const BODY_BUFFERS = 16;

const UNPARSED = Symbol('unparsed');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One poke the gateway kept whole. Its body is parsed when first read. */
export class Poke {
  /** The status the gateway answered. */
  answered = 200;
  /** performance.now() when the answer was sent (a retry is a poke sent after it: see sentAt). */
  answeredAt = Infinity;
  #body: unknown = UNPARSED;
  #pushkeys: string[] | undefined;

  constructor(
    /** performance.now() when it arrived. */
    readonly at: number,
    /** The body as text. */
    readonly text: string,
    /**
     * performance.now() when the target began to send it: when its connection
     * was accepted, or, on a connection kept from an earlier request, when its
     * request began. A poke sent only after an answer (a retry) began after
     * that answer left; a copy sent at the same time as the first began before.
     */
    readonly sentAt: number = at,
  ) {}

  /** The body, parsed; undefined when it is not JSON, or nests deeper than any check reads. */
  get body(): unknown {
    if (this.#body !== UNPARSED) return this.#body;
    let body: unknown;
    try {
      body = jsonDepth(this.text) > MAX_JSON_DEPTH ? undefined : (JSON.parse(this.text) as unknown);
    } catch {
      body = undefined;
    }
    if (this.text.length <= CACHED_PARSE_BYTES) this.#body = body;
    return body;
  }

  /** Its text nests deeper than any check reads: it can be attributed by its text only, and judged by nothing. */
  get tooDeep(): boolean {
    return jsonDepth(this.text) > MAX_JSON_DEPTH;
  }

  /** Pushkeys of its notification's devices. */
  get pushkeys(): string[] {
    if (this.#pushkeys) return this.#pushkeys;
    const body = this.body;
    const devices = isObject(body) && isObject(body['notification']) ? body['notification']['devices'] : undefined;
    this.#pushkeys = Array.isArray(devices) ? devices.filter(isObject).map((d) => d['pushkey']).filter((k): k is string => typeof k === 'string') : [];
    return this.#pushkeys;
  }
}

/** What is kept of a poke that names no pushkey of the run (or that the byte budget pushed out). */
export interface PokeSummary {
  at: number;
  /** Its size in bytes. */
  bytes: number;
  /** Its first bytes, as text with control characters escaped. */
  head: string;
  /** Pushkeys its text names (`"pushkey": "…"`), the first few, cut. */
  pushkeys: string[];
  answered: number;
}

export interface Answer {
  /** Answer {"rejected": [this pushkey]} (on every poke about an event for it from now on; badge updates as usual). */
  reject?: boolean;
  /** Answer pokes about an event with this status `times` times, then as usual (badge updates are answered as usual). */
  status?: number;
  times?: number;
}

export interface GatewayOptions extends TimingOptions {
  /** host:port to listen on (default 127.0.0.1 and a free port). */
  listen?: string;
  /** The URL targets are told to use; default: derived from the listening address. */
  url?: string;
  /** Serve HTTPS from the start (with a certificate made for the run, or the one given). */
  tls?: boolean;
  /** A PEM certificate (chain) and its key for HTTPS, one the target already trusts: --gateway-cert, --gateway-key. */
  certFile?: string;
  keyFile?: string;
  /** The run's id: pokes whose text holds it are the run's (kept whole). Without it, every poke is. */
  runId?: string;
  /** Text of the pokes kept whole, in all (default MAX_KEPT_BYTES): past it the oldest become summaries. */
  maxKeptBytes?: number;
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
  if (!p.text.includes(pushkey) && !p.text.includes('\\u')) return false;
  if (p.pushkeys.length > 0) return p.pushkeys.includes(pushkey);
  const escaped = pushkey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w.~-])${escaped}(?![\\w.~-])`).test(p.text);
}

/** The pushkeys a poke's text names, read without parsing it (a flood is not parsed). */
function namedPushkeys(text: string): string[] {
  const out: string[] = [];
  const re = /"pushkey"\s*:\s*"((?:[^"\\]|\\.){0,512})"/g;
  for (let m = re.exec(text); m && out.length < SUMMARY_PUSHKEYS; m = re.exec(text)) out.push(escapeForTerminal((m[1] as string).slice(0, SUMMARY_PUSHKEY_CHARS)));
  return out;
}

/** Whether a body is the run's: its text holds the run id, also when a server wrote it with \\u escapes. */
function isRuns(bytes: Buffer, runId: string | undefined): boolean {
  if (runId === undefined || bytes.includes(runId)) return true;
  if (!bytes.includes('\\u')) return false;
  try {
    return JSON.stringify(JSON.parse(bytes.toString('utf8'))).includes(runId);
  } catch {
    return false;
  }
}

/**
 * Buffers that bodies are read into, each MAX_BODY long and used again and
 * again: every chunk a request brings is copied into one and dies at once.
 * Kept until a body ends, chunks would outlive V8's young generation and pile
 * up outside its heap until a full collection (64 MB of them during a flood).
 */
class BodyBuffers {
  readonly #free: Buffer[] = [];

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(MAX_BODY);
  }

  give(buffer: Buffer): void {
    if (this.#free.length < BODY_BUFFERS) this.#free.push(buffer);
  }
}

/**
 * Connections that may be carrying a poke right now: accepted and not yet
 * past their first request, or in the middle of one. A quiet period lets
 * those busy at its end finish, so a poke that began to arrive within it counts.
 */
class Arrivals {
  /** Busy connections, each with what waits for it to end. */
  readonly #busy = new Map<object, Array<() => void>>();

  /** A connection was accepted (for TLS, the raw socket: its handshake is part of the arrival), or a request began on it. */
  started(conn: object): void {
    if (!this.#busy.has(conn)) this.#busy.set(conn, []);
  }

  /** A request was answered, or its connection closed. */
  ended(conn: object): void {
    const waiting = this.#busy.get(conn);
    this.#busy.delete(conn);
    for (const wake of waiting ?? []) wake();
  }

  /** Resolves once every connection busy now has ended, or after `maxMs`. */
  async settled(maxMs: number): Promise<void> {
    // One turn of the event loop first: a connection made while this process was busy is accepted in its poll phase.
    await new Promise((resolve) => setImmediate(resolve));
    const busy = [...this.#busy.values()];
    if (busy.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(busy.map((waiting) => new Promise<void>((resolve) => waiting.push(resolve))));
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)))]);
    clearTimeout(timer);
  }
}

/**
 * The connection a request came on, as `Arrivals` knows it: for TLS the raw
 * socket, which node's TLS socket holds as `_parent` (not in its types).
 */
function connectionOf(req: IncomingMessage): object {
  return (req.socket as Socket & { _parent?: Socket })._parent ?? req.socket;
}

export class MockGateway implements Service {
  readonly pokes: Poke[] = [];
  /** Summaries of the pokes not kept whole, the newest MAX_SUMMARIES. */
  readonly strays: PokeSummary[] = [];
  /** Pokes not kept whole since the start, summarised or not. */
  strayCount = 0;
  /** How long delivery steps wait (see timing.ts). */
  readonly timing: DeliveryTiming;
  private keptBytes = 0;
  private readonly bodies = new BodyBuffers();
  private readonly answers = new Map<string, Answer>();
  private readonly waiters = new Set<Waiter>();
  private readonly arrivals = new Arrivals();
  /** When each connection was accepted, and whether a request has come on it yet. */
  private readonly connections = new WeakMap<object, { acceptedAt: number; used: boolean }>();
  private readonly observers = new Set<PokeObserver>();

  /** Listeners: the first one, and the HTTPS one started when a target refuses the first one's http:// URL. */
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private secure: Promise<string> | undefined;
  /** TLS handshakes the target did not finish: when, and what went wrong (an alert it sent, or the connection closed). */
  private readonly handshakeFailures: Array<{ at: number; reason: string }> = [];
  private readonly handshakeListeners = new Set<(reason: string) => void>();

  private constructor(
    /** The notify URL targets must put in their pushers' data.url: the HTTPS one once a target refused the first. */
    public url: string,
    private readonly runId: string | undefined,
    private readonly maxKeptBytes: number,
    private readonly options: GatewayOptions,
  ) {
    this.timing = new DeliveryTiming(options);
  }

  /** Whether the URL targets are told to use is an https:// one. */
  get tls(): boolean {
    return this.url.startsWith('https:');
  }

  static async start(options: GatewayOptions = {}): Promise<MockGateway> {
    const [host, port] = parseListen(options.listen);
    // Read before anything listens: a certificate file that cannot be read is the user's setting, said in one line.
    const given = options.certFile !== undefined ? readCertificate(options.certFile, options.keyFile) : undefined;
    const gateway = new MockGateway('', options.runId, options.maxKeptBytes ?? MAX_KEPT_BYTES, { ...options, ...(given ? { given } : {}) } as GatewayOptions);
    const tls = options.tls === true || (options.url?.startsWith('https:') ?? false);
    const url = await gateway.listen(host, port, tls);
    gateway.url = options.url ?? url;
    return gateway;
  }

  /** Starts a listener (HTTP, or HTTPS with the given certificate or one made now) and returns its notify URL. */
  private async listen(host: string, port: number, tls: boolean): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const given = (this.options as { given?: { key: string; cert: string } }).given;
    const cert = tls ? (given ?? makeCertificate()) : undefined;
    const server: Server = cert ? createHttpsServer({ key: cert.key, cert: cert.cert }, handler) : createHttpServer(handler);
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.maxConnections = 256;
    // Every socket, from its first byte: closeAllConnections() does not reach a
    // TLS socket whose handshake never finished, and the run would wait out
    // Node's two-minute handshake timeout before it could exit.
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      this.connections.set(socket, { acceptedAt: performance.now(), used: false });
      this.arrivals.started(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.arrivals.ended(socket);
      });
    });
    // A handshake the target did not finish: it does not trust the certificate (an alert), or gave up (closed).
    if (cert) server.on('tlsClientError', (err: NodeJS.ErrnoException) => this.handshakeFailed(handshakeReason(err)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port} (${err.code ?? err.message})`)));
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.servers.push(server);
    const addr = server.address() as AddressInfo;
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    return `${cert ? 'https' : 'http'}://${shownHost}:${addr.port}${NOTIFY_PATH}`;
  }

  /**
   * The target refused the gateway's http:// URL (the spec says a pusher's URL
   * MUST be HTTPS): from now on the gateway is offered over HTTPS, on a
   * listener started now, to every case. Says what changed, or undefined when
   * there is nothing else to offer (already HTTPS, or a URL the user gave).
   */
  async fallback(): Promise<string | undefined> {
    // HTTPS from the start, or a URL the user gave: nothing else to offer. Once switched, a step refused for
    // the http:// URL it sent before the switch (another case's did it) is sent again all the same.
    if (this.options.tls === true || this.options.url !== undefined) return undefined;
    this.secure ??= this.listen(parseListen(this.options.listen)[0], 0, true).then((u) => (this.url = u));
    await this.secure;
    return 'the mock gateway over HTTPS, as the target refused its http:// URL';
  }

  private handshakeFailed(reason: string): void {
    this.handshakeFailures.push({ at: performance.now(), reason });
    if (this.handshakeFailures.length > 100) this.handshakeFailures.shift();
    for (const l of [...this.handshakeListeners]) l(reason);
  }

  /** The last TLS handshake the target did not finish since `since` (performance.now()), if any. */
  handshakeFailureSince(since: number): string | undefined {
    return [...this.handshakeFailures].reverse().find((f) => f.at >= since)?.reason;
  }

  /** Calls `listener` at the next failed handshake; returns the call that stops it. */
  onHandshakeFailure(listener: (reason: string) => void): () => void {
    this.handshakeListeners.add(listener);
    return () => this.handshakeListeners.delete(listener);
  }

  value(key: string): unknown {
    return key === 'url' ? this.url : undefined;
  }

  /** The run offers the service another way when the target refuses the first: see fallback(). */
  alternative(): Promise<string | undefined> {
    return this.fallback();
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

  /** Resolves once no poke is on its way in (accepted, not yet answered), or after `maxMs`. */
  settled(maxMs: number): Promise<void> {
    return this.arrivals.settled(maxMs);
  }

  /**
   * The first poke for `pushkey` that `match` accepts, among those kept or
   * those to come within `timeoutMs`. `shorten`, asked at each failed TLS
   * handshake, may end the wait at once (undefined) when it says a poke cannot come.
   */
  waitFor(pushkey: string, match: (p: Poke) => boolean, timeoutMs: number, since = 0, shorten?: () => boolean): Promise<Poke | undefined> {
    const seen = this.pokes.find((p) => p.at >= since && isFor(p, pushkey) && match(p));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      let stop = (): void => undefined;
      const waiter: Waiter = {
        pushkey,
        match,
        resolve: (p) => {
          clearTimeout(waiter.timer);
          stop();
          this.waiters.delete(waiter);
          resolve(p);
        },
        timer: setTimeout(() => waiter.resolve(undefined), timeoutMs),
      };
      if (shorten) stop = this.onHandshakeFailure(() => (shorten() ? waiter.resolve(undefined) : undefined));
      this.waiters.add(waiter);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const conn = connectionOf(req);
    this.arrivals.started(conn);
    const known = this.connections.get(conn);
    const sentAt = known && !known.used ? known.acceptedAt : performance.now();
    if (known) known.used = true;
    res.once('close', () => this.arrivals.ended(conn));
    // What observers are given with a poke (the trace): made only for a poke kept, not for every poke of a flood.
    const began = { started: new Date(), startedAt: performance.now() };
    const request = (): PokeRequest => ({ method: req.method ?? '', url: this.url, headers: headersOf(req), ...began });
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
    const body = this.bodies.take();
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size + c.length <= MAX_BODY) c.copy(body, size);
      size += c.length;
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      try {
        if (size > MAX_BODY) return send(413, { errcode: 'M_TOO_LARGE', error: 'body over 64 KiB' });
        this.received(body.subarray(0, size), sentAt, send, () => ({ status: 0, body: answered }), request);
      } finally {
        this.bodies.give(body);
      }
    });
  }

  /** A whole body arrived: the run's is kept and answered as told, any other summarised and answered 200. */
  private received(bytes: Buffer, sentAt: number, send: (status: number, body: unknown) => void, answer: () => PokeAnswer, request: () => PokeRequest): void {
    if (!isRuns(bytes, this.runId)) {
      send(200, { rejected: [] });
      return this.summarise(bytes, performance.now(), 200);
    }
    const poke = new Poke(performance.now(), bytes.toString('utf8'), sentAt);
    const { status, rejected } = this.answerFor(poke);
    this.keep(poke);
    if (status >= 400) send(status, { errcode: 'M_UNKNOWN', error: 'the mock gateway was told to fail' });
    else send(200, { rejected });
    poke.answered = status;
    poke.answeredAt = performance.now();
    if (this.observers.size) {
      const shown = { ...answer(), status };
      const asked = request();
      for (const o of this.observers) o(poke, shown, asked);
    }
    for (const w of [...this.waiters]) if (isFor(poke, w.pushkey) && w.match(poke)) w.resolve(poke);
  }

  /**
   * The told answer for a poke. A told failure or rejection is for
   * notifications about an event: badge updates, which a server may send at
   * any time (Synapse does after receipts), are answered as usual and use
   * none of it up. Only a poke that names a pushkey with a told answer is parsed.
   */
  private answerFor(poke: Poke): { status: number; rejected: string[] } {
    let status = 200;
    const rejected: string[] = [];
    if (![...this.answers.keys()].some((k) => poke.text.includes(k) || poke.text.includes('\\u'))) return { status, rejected };
    const badge = isBadgeBody(poke.body);
    for (const k of poke.pushkeys) {
      const a = this.answers.get(k);
      if (!a) continue;
      if (!badge && a.status !== undefined && (a.times ?? 1) > 0) {
        status = a.status;
        a.times = (a.times ?? 1) - 1;
      }
      if (a.reject && !badge) rejected.push(k);
    }
    return { status, rejected };
  }

  /** Keeps a poke whole, within MAX_POKES and the byte budget: the oldest become summaries. */
  private keep(poke: Poke): void {
    this.pokes.push(poke);
    this.keptBytes += poke.text.length;
    while (this.pokes.length > MAX_POKES || (this.keptBytes > this.maxKeptBytes && this.pokes.length > 1)) {
      const old = this.pokes.shift() as Poke;
      this.keptBytes -= old.text.length;
      this.summarise(Buffer.from(old.text, 'utf8'), old.at, old.answered);
    }
  }

  private summarise(bytes: Buffer, at: number, answered: number): void {
    this.strayCount += 1;
    const text = bytes.subarray(0, SUMMARY_HEAD_BYTES).toString('utf8');
    // Escaped only when it holds something to escape: a flood's pokes are plain ASCII, and escaping builds a string a character at a time.
    const head = /[^\x20-\x7e]/.test(text) ? escapeForTerminal(text) : text;
    // Only a text that names a pushkey is searched for them: a flood of `[{},{},…]` costs one scan.
    const pushkeys = bytes.includes('"pushkey"') ? namedPushkeys(bytes.toString('utf8')) : [];
    this.strays.push({ at, bytes: bytes.length, head, pushkeys, answered });
    if (this.strays.length > MAX_SUMMARIES) this.strays.shift();
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w.resolve(undefined);
    this.handshakeListeners.clear();
    await this.secure?.catch(() => undefined);
    for (const server of this.servers) server.closeAllConnections?.();
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** A request's headers as one string each (repeated ones joined). */
function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** What a failed handshake says: the alert the target sent (it does not trust the certificate), or that it closed the connection. */
function handshakeReason(err: NodeJS.ErrnoException): string {
  const alert = /alert ([a-z ]+)/i.exec(err.message)?.[1];
  if (alert) return `the target ended the TLS handshake with the alert "${alert.trim()}"`;
  if (err.code === 'ECONNRESET' || /socket hang up|disconnected/i.test(err.message)) return 'the target closed the connection during the TLS handshake';
  return `the TLS handshake failed (${err.code ?? 'error'})`;
}

/** A PEM certificate and key the user gave; a file that cannot be read, or a key that does not fit, is said in one line. */
function readCertificate(certFile: string, keyFile: string | undefined): { key: string; cert: string } {
  if (keyFile === undefined) throw new Error('--gateway-cert needs --gateway-key');
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the ${what} ${escapeForTerminal(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'key');
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${escapeForTerminal(certFile)} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error(`${escapeForTerminal(keyFile)} holds no PEM private key`);
  try {
    createSecureContext({ key, cert });
  } catch (err) {
    throw new Error(`the key ${escapeForTerminal(keyFile)} and the certificate ${escapeForTerminal(certFile)} cannot serve HTTPS (${escapeForTerminal((err as Error).message.slice(0, 120))})`);
  }
  return { key, cert };
}

function parseListen(listen: string | undefined): [string, number] {
  if (!listen) return ['127.0.0.1', 0];
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--gateway-listen takes HOST:PORT, got ${listen}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--gateway-listen: port ${port} is past 65535`);
  return [m[1] ?? m[2] ?? '127.0.0.1', port];
}
