import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { createServer, type AppOptions, type RunningServer } from '../../reference-server/index.js';
import { ok, PushRelay, type PushApi, type PushCall, type RelayAnswer } from './push-relay.js';

/** A request as a mutation sees it: the body as text and, when it parses, as JSON. */
export interface ProxyRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The bytes as received, forwarded as they are unless a mutation rewrote the body (bodies need not be UTF-8). */
  bytes?: Buffer;
  json: unknown;
  /** The access token sent, if any (in the Authorization header, or else as the access_token query parameter). */
  token: string | undefined;
  /** The query string, with its "?", or "". */
  query: string;
}

export interface ProxyResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export type Json = Record<string, unknown>;

/**
 * One deliberate deviation. A mutation may answer a request itself, rewrite it
 * before the reference server sees it, or rewrite the answer; everything it
 * leaves alone behaves exactly like the reference server.
 */
export interface Mutation {
  name: string;
  /**
   * Push delivery takes part: the run offers the mock gateway, and the proxy
   * stands a relay (push-relay.ts) between the reference server and it, so
   * that `onPush` sees every notification. Without it, delivery cases are skipped.
   */
  delivery?: boolean;
  /**
   * The versions the reference server advertises, and follows where versions
   * differ (push rules): a server of an older version, not one that only says so.
   */
  versions?: readonly string[];
  /**
   * Correct servers: the cases it may leave not judged (skipped for a reason of
   * the target's) by a choice the spec allows, such as refusing a condition kind
   * it does not know. Any other such skip fails its test: a correct server is
   * judged, not merely left unfailed.
   */
  notJudged?: readonly string[];
  /** A push rules module of its own in place of the reference server's (AppOptions.pushRulesModule). */
  pushRulesModule?: AppOptions['pushRulesModule'];
  /** Per-server state the mutation may keep (e.g. every pusher it has seen). */
  onRequest?(req: ProxyRequest, state: Map<string, unknown>, forward: (req: ProxyRequest) => Promise<ProxyResponse>, push: PushApi): ProxyResponse | ProxyRequest | undefined | Promise<ProxyResponse | ProxyRequest | undefined>;
  onResponse?(req: ProxyRequest, res: ProxyResponse, state: Map<string, unknown>, push: PushApi): ProxyResponse | undefined | Promise<ProxyResponse | undefined>;
  /** A notification the reference server sent (delivery only); undefined forwards it as it is and answers what the gateway answered. */
  onPush?(call: PushCall, state: Map<string, unknown>, push: PushApi): RelayAnswer | undefined | Promise<RelayAnswer | undefined>;
}

/** What mutations get for push delivery when the proxy runs no relay. */
const NO_PUSH: PushApi = {
  pushersOf: () => [],
  pusher: () => undefined,
  userOf: () => undefined,
  send: () => Promise.resolve(ok()),
};

export interface ProxyServer {
  url: string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseObject(text: string): Json | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

export function json(status: number, body: unknown): ProxyResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function isSet(req: ProxyRequest, edition?: 'v1' | 'draft'): boolean {
  if (req.method !== 'POST' || !req.path.endsWith('/pushers/set')) return false;
  if (edition === 'draft') return req.path.startsWith('/_matrix/client/api/v1/');
  if (edition === 'v1') return !req.path.startsWith('/_matrix/client/api/v1/');
  return true;
}

export function isGet(req: ProxyRequest): boolean {
  return req.method === 'GET' && /\/pushers$/.test(req.path);
}

export function body(req: ProxyRequest): Json {
  return typeof req.json === 'object' && req.json !== null && !Array.isArray(req.json) ? (req.json as Json) : {};
}

export function withJson(req: ProxyRequest, value: unknown): ProxyRequest {
  const text = JSON.stringify(value);
  const { bytes: _bytes, ...rest } = req;
  return { ...rest, body: text, json: value };
}

/** How long the proxy and the server behind it keep an idle connection. */
const KEEP_ALIVE_MS = 60_000;

/** Starts the reference server and, in front of it, a server that applies `mutation`. Both on loopback, port 0. */
export async function startProxy(mutation: Mutation): Promise<ProxyServer> {
  // With delivery, the reference server is told not to verify the relay's certificate, made for the test.
  // Connections kept a minute: under load a client may reuse one just as a 5 s keep-alive runs out, and the
  // request is lost with the connection. A run through the proxy must not depend on that race.
  const inner: RunningServer = await createServer({ port: 0, keepAliveTimeoutMs: KEEP_ALIVE_MS, ...(mutation.delivery ? { pushTlsVerify: false } : {}), ...(mutation.versions ? { versions: mutation.versions } : {}), ...(mutation.pushRulesModule ? { pushRulesModule: mutation.pushRulesModule } : {}) });
  const state = new Map<string, unknown>();
  let relay: PushRelay | undefined;
  if (mutation.delivery) relay = await PushRelay.start(async (call): Promise<RelayAnswer> => (await mutation.onPush?.(call, state, relay ?? NO_PUSH)) ?? call.forward());
  const push: PushApi = relay ?? NO_PUSH;
  const pool = new Pool(inner.url, { connections: 64, keepAliveTimeout: 10_000, keepAliveMaxTimeout: KEEP_ALIVE_MS });
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      const bytes = await readBody(req);
      const text = bytes.toString('utf8');
      let parsed: unknown;
      try {
        // Invalid UTF-8 is not JSON, even if the text decoded with U+FFFD would parse.
        parsed = Buffer.from(text, 'utf8').equals(bytes) ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const auth = headers['authorization'];
      const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?')) : '';
      const queryToken = new URLSearchParams(query).get('access_token') ?? undefined;
      let preq: ProxyRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] as string, headers, body: text, bytes, json: parsed, token: auth?.startsWith('Bearer ') ? auth.slice(7) : queryToken, query };
      const forward = async (sent: ProxyRequest): Promise<ProxyResponse> => {
        // The relay stands in for the mock gateway in every pusher the reference server gets, and is hidden in every list it answers.
        const relayed = relay && isSet(sent) ? relay.rewriteSet(body(sent)) : undefined;
        const f = relayed ? withJson(sent, relayed) : sent;
        const fwdHeaders = { ...f.headers };
        delete fwdHeaders['content-length'];
        delete fwdHeaders['host'];
        delete fwdHeaders['connection'];
        delete fwdHeaders['transfer-encoding'];
        delete fwdHeaders['keep-alive'];
        // A pool of kept connections: a run sends hundreds of requests through the proxy, and fetch costs a lot more per request.
        const r = await pool.request({ path: f.path + f.query, method: f.method as Dispatcher.HttpMethod, headers: fwdHeaders, ...(f.method === 'GET' || f.method === 'HEAD' ? {} : { body: f.bytes ?? f.body }) });
        const type = r.headers['content-type'];
        const answer: ProxyResponse = { status: r.statusCode, headers: { 'content-type': typeof type === 'string' ? type : 'application/json' }, body: await r.body.text() };
        if (!relay || answer.status !== 200) return answer;
        if (isSet(sent) && sent.token) {
          const b = body(sent);
          if (typeof b['kind'] === 'string') relay.created(sent.token, sent.path.startsWith('/_matrix/client/api/v1/') ? 'draft' : 'v1', b);
          else if ('kind' in b && b['kind'] === null) relay.deleted(b['app_id'], b['pushkey']);
          return answer;
        }
        const parsed = parseObject(answer.body);
        if (!parsed) return answer;
        if (/\/(register|login)$/.test(sent.path)) relay.sawLogin(parsed);
        if (isGet(sent)) return { ...answer, body: JSON.stringify(relay.rewriteList(parsed)) };
        return answer;
      };
      const early = await mutation.onRequest?.(preq, state, forward, push);
      let answer: ProxyResponse;
      if (early && 'status' in early) answer = early;
      else {
        if (early) preq = early;
        answer = await forward(preq);
      }
      answer = (await mutation.onResponse?.(preq, answer, state, push)) ?? answer;
      res.writeHead(answer.status, answer.headers ?? { 'content-type': 'application/json' });
      res.end(answer.body);
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errcode: 'M_UNKNOWN', error: String(err) }));
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.destroy();
      await inner.close();
      await relay?.close();
    },
  };
}
