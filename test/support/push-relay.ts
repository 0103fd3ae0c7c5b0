/**
 * What lets a test server misbehave on push delivery without any broken
 * behaviour in reference-server/: the proxy puts the address of this relay
 * in place of the mock gateway's URL in every pusher it forwards, and the
 * reference server then sends its notifications here. The relay hands each one
 * to the mutation, which may forward it to the gateway the pusher was set with
 * (as it is, rewritten, later, or not at all) and choose the answer the
 * reference server gets. A mutation may also send notifications of its own
 * (to the sender of a message, badge updates after a receipt).
 *
 * The relay speaks HTTPS with a certificate made for the test (the reference
 * server refuses http:// gateways and is told not to verify it), and posts to
 * the mock gateway without verifying its certificate either. Loopback only.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCertificate } from '../../src/areas/delivery/gateway/cert.js';

type Json = Record<string, unknown>;

export const NOTIFY_PATH = '/_matrix/push/v1/notify';

/** A pusher set through the proxy with a loopback gateway URL. */
export interface RelayedPusher {
  appId: string;
  pushkey: string;
  /** The access token of the user who set it. */
  token: string;
  edition: 'v1' | 'draft';
  /** The gateway URL the client set (the mock gateway). */
  url: string;
  /** The pusher's data as the client set it, url included. */
  data: Json;
  /** false once the proxy forwarded a delete of it that the reference server accepted. */
  live: boolean;
}

export interface RelayAnswer {
  status: number;
  body: string;
}

/** One notification the reference server sent, as a mutation sees it. */
export interface PushCall {
  /** The body, parsed (an object: the reference server writes JSON). */
  body: Json;
  /** The pushers its devices name, in the order of the devices. */
  pushers: RelayedPusher[];
  /** Sends `body` (default: the notification as it came) to the gateway of the first pusher; answers the gateway's answer. */
  forward(body?: unknown): Promise<RelayAnswer>;
}

/** What the proxy offers its mutations for push delivery. */
export interface PushApi {
  /** The pushers a user set through the proxy and has not deleted, oldest first. */
  pushersOf(token: string): RelayedPusher[];
  pusher(appId: string, pushkey: string): RelayedPusher | undefined;
  /** The user id of a token, from the /register or /login answer that gave it. */
  userOf(token: string): string | undefined;
  /** Sends a notification of the mutation's own to a pusher's gateway. */
  send(pusher: RelayedPusher, body: unknown): Promise<RelayAnswer>;
}

export const ok = (rejected: string[] = []): RelayAnswer => ({ status: 200, body: JSON.stringify({ rejected }) });

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a data.url is one the relay stands in for: a notify URL on loopback (the mock gateway's). */
export function isLoopbackGateway(url: unknown): url is string {
  if (typeof url !== 'string') return false;
  try {
    const u = new URL(url);
    return LOOPBACK.has(u.hostname) && u.pathname === NOTIFY_PATH && (u.protocol === 'http:' || u.protocol === 'https:');
  } catch {
    return false;
  }
}

/** POSTs JSON to a gateway, trusting any certificate (the mock gateway's is made for the run). */
export function postJson(url: string, body: unknown, timeoutMs = 10_000): Promise<RelayAnswer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(u, { method: 'POST', rejectUnauthorized: false, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: 502, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 502, body: '' }));
    req.end(text);
  });
}

export class PushRelay implements PushApi {
  private readonly pushers = new Map<string, RelayedPusher>();
  private readonly users = new Map<string, string>();
  private constructor(
    private readonly server: Server,
    /** The notify URL the reference server is given in place of the gateway's. */
    readonly url: string,
  ) {}

  static async start(onPush: (call: PushCall) => Promise<RelayAnswer>): Promise<PushRelay> {
    const cert = makeCertificate();
    let relay: PushRelay | undefined;
    const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => void relay?.handle(req, res, onPush));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new PushRelay(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}${NOTIFY_PATH}`);
    return relay;
  }

  private static key(appId: unknown, pushkey: unknown): string {
    return `${String(appId)}\n${String(pushkey)}`;
  }

  /** Records a pusher the reference server accepted (its body as the client sent it). */
  created(token: string, edition: 'v1' | 'draft', set: Json): void {
    const data = set['data'];
    if (!isObject(data) || !isLoopbackGateway(data['url']) || typeof set['app_id'] !== 'string' || typeof set['pushkey'] !== 'string') return;
    const key = PushRelay.key(set['app_id'], set['pushkey']);
    this.pushers.delete(key);
    this.pushers.set(key, { appId: set['app_id'], pushkey: set['pushkey'], token, edition, url: data['url'], data, live: true });
  }

  deleted(appId: unknown, pushkey: unknown): void {
    const p = this.pushers.get(PushRelay.key(appId, pushkey));
    if (p) p.live = false;
  }

  /** The set body the reference server gets: the gateway's URL replaced by the relay's. */
  rewriteSet(set: Json): Json | undefined {
    const data = set['data'];
    if (!isObject(data) || !isLoopbackGateway(data['url'])) return undefined;
    return { ...set, data: { ...data, url: this.url } };
  }

  /** A GET /pushers answer as the client must see it: the relay's URL replaced by the one the client set. */
  rewriteList(answer: Json): Json {
    const pushers = answer['pushers'];
    if (!Array.isArray(pushers)) return answer;
    return {
      ...answer,
      pushers: pushers.map((p: unknown) => {
        if (!isObject(p) || !isObject(p['data']) || p['data']['url'] !== this.url) return p;
        const original = this.pushers.get(PushRelay.key(p['app_id'], p['pushkey']));
        return original ? { ...p, data: { ...p['data'], url: original.url } } : p;
      }),
    };
  }

  /** Remembers whose a token is, from an answer that carries both. */
  sawLogin(answer: Json): void {
    if (typeof answer['access_token'] === 'string' && typeof answer['user_id'] === 'string') this.users.set(answer['access_token'], answer['user_id']);
  }

  pushersOf(token: string): RelayedPusher[] {
    return [...this.pushers.values()].filter((p) => p.token === token && p.live);
  }

  pusher(appId: string, pushkey: string): RelayedPusher | undefined {
    return this.pushers.get(PushRelay.key(appId, pushkey));
  }

  userOf(token: string): string | undefined {
    return this.users.get(token);
  }

  send(pusher: RelayedPusher, body: unknown): Promise<RelayAnswer> {
    return postJson(pusher.url, body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, onPush: (call: PushCall) => Promise<RelayAnswer>): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let answer: RelayAnswer;
    try {
      const body = JSON.parse(text) as unknown;
      const n = isObject(body) && isObject(body['notification']) ? body['notification'] : {};
      const devices = Array.isArray(n['devices']) ? n['devices'].filter(isObject) : [];
      const pushers = devices.map((d) => this.pushers.get(PushRelay.key(d['app_id'], d['pushkey']))).filter((p): p is RelayedPusher => p !== undefined);
      const first = pushers[0];
      if (!isObject(body) || !first) answer = ok();
      else answer = await onPush({ body, pushers, forward: (b) => postJson(first.url, b === undefined ? text : b) });
      // A pushkey rejected in the answer the reference server gets is one it removes: no longer live.
      const rejected = answer.status === 200 ? (JSON.parse(answer.body || '{}') as { rejected?: unknown }).rejected : undefined;
      if (Array.isArray(rejected)) for (const p of pushers) if (rejected.includes(p.pushkey)) p.live = false;
    } catch (err) {
      answer = { status: 500, body: JSON.stringify({ error: String(err) }) };
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
