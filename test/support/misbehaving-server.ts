/**
 * A Matrix server that behaves (it forwards to the bundled reference server)
 * except at one place, where it misbehaves in one chosen way: it never
 * answers, never ends a body, drips one, streams gigabytes, speaks HTML,
 * resets the connection, fails with a 5xx, redirects (to itself or to another
 * origin), or rate-limits. It records what the runner sent it: every access
 * token and password that passed through (so tests can prove none reaches a
 * report) and every request a second origin received (so tests can prove no
 * credential crossed origins).
 *
 * Everything listens on 127.0.0.1, port 0. Every endless behaviour stops when
 * the client goes away, at its own bound, or when close() is called.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer as createReferenceServer, type RunningServer } from '../../reference-server/index.js';

export type Mode =
  /** Reads the request, never answers. */
  | 'hang'
  /** Sends 200 and JSON headers, then never a byte of body. */
  | 'headers-then-hang'
  /** Sends 200, then one byte of body every 200 ms, forever. */
  | 'drip'
  /** Sends the status line and headers one byte every 200 ms, forever. */
  | 'drip-headers'
  /** Streams a body of `hugeBytes` (default 5 GiB), with a Content-Length. */
  | 'huge'
  /** The same, chunked: no Content-Length, no end in sight. */
  | 'huge-chunked'
  /** A body of exactly `exactBytes` bytes: `{}` padded with spaces, so valid JSON. */
  | 'exact-size'
  /** 200 text/html. */
  | 'html'
  /** 200 text/plain. */
  | 'text'
  /** 200 application/json with an empty body. */
  | 'empty'
  /** Valid JSON nested `depth` arrays deep (default 400 000: 800 KB, under the body cap). */
  | 'deep-json'
  /** A valid versions answer whose unstable_features nest `depth` objects deep. */
  | 'deep-versions'
  /** Resets the connection (TCP RST) as soon as the request line and headers arrive, before the body is read. */
  | 'reset'
  /** Sends headers and half a JSON body, then resets the connection. */
  | 'reset-mid-body'
  /** Writes bytes that are not HTTP, then closes. */
  | 'garbage'
  /** A header of 100 KB. */
  | 'huge-headers'
  /** Answers `status` (default 500) with a Matrix error body. */
  | 'status'
  /** Redirects (`redirectStatus`, default 307) to the same request on the same origin, which then behaves. */
  | 'redirect-same'
  /** Redirects to itself, forever. */
  | 'redirect-loop'
  /** Redirects to the same path on the other origin. */
  | 'redirect-cross'
  /** Redirects to the other origin, which redirects back here (to a path that records what it got, then behaves). */
  | 'redirect-bounce'
  /** 429 M_LIMIT_EXCEEDED with retry_after_ms (`retryAfterMs`, default 100) `times` times per request, then behaves. */
  | 'rate-limit'
  /** 429 with only a Retry-After header (`retryAfterSeconds`, default 1, or an HTTP date that far ahead with `retryAfterDate`) `times` times per request, then behaves. */
  | 'rate-limit-header'
  /** 429 with retry_after_ms `retryAfterMs`, forever. */
  | 'rate-limit-forever'
  /** 429 with only a Retry-After header, forever. */
  | 'rate-limit-header-forever'
  /** 401 asking for a user-interactive stage no client can complete (for /register). */
  | 'unknown-stage'
  /** 400 whose error text, headers and body repeat every secret of the request (Authorization header, password). */
  | 'echo-secrets'
  /** Redirects with the request's access token in the Location's query string. */
  | 'redirect-with-token'
  /** 400 whose error text repeats the access token and password JSON-escaped (\u0073…, \/), percent-encoded and in base64. */
  | 'echo-secrets-encoded'
  /** For /register: a 401 whose flows are [null]. */
  | 'flows-null'
  /** For /register: a 401 whose only flow has stages that are not strings (a number, an object, null). */
  | 'stages-not-strings'
  /** For /register: a 401 whose flows hold a stage list nested 100 000 arrays deep. */
  | 'stages-deep'
  /** For /register: a 200 whose user_id and access_token are objects. */
  | 'register-objects'
  /** For GET /pushers: the list holds null, a number and pushers whose ids are objects, besides the real ones. */
  | 'pushers-malformed'
  /** Status 200 or 400 (by turns) with a JSON object of about `exactBytes` (default 1 000 000) bytes: a member holding one long string. */
  | 'mega-json'
  /** 200 with a JSON array of `items` (default 262 000) empty objects, about 1 MB: hundreds of thousands of values to parse, validate and match. */
  | 'mega-array';

export interface MisbehavingOptions {
  /** Where it misbehaves: the pushers endpoints (any edition), GET /versions, or POST /register. */
  at: 'pushers' | 'versions' | 'register';
  /** Several modes take turns, one per request that meets the misbehaviour. */
  mode: Mode | readonly Mode[];
  /** Only requests with this method misbehave; others behave. */
  method?: 'GET' | 'POST';
  /** For 'status': the statuses take turns, one per request (default [500]). */
  statuses?: readonly number[];
  redirectStatus?: 301 | 302 | 303 | 307 | 308;
  times?: number;
  retryAfterMs?: number;
  retryAfterSeconds?: number;
  retryAfterDate?: boolean;
  hugeBytes?: number;
  exactBytes?: number;
  depth?: number;
  items?: number;
}

/** A request as the other origin (or the bounce-back path) saw it. */
export interface Seen {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface MisbehavingServer {
  url: string;
  /** The second origin (another port), which records every request it gets. */
  otherUrl: string;
  /** Every access token /register issued and every password sent to /register. */
  secrets: Set<string>;
  /** Requests that met the misbehaviour. */
  hits: number;
  /** Body bytes sent by 'huge' and 'drip', over all requests. */
  bytesSent: number;
  /** Requests the other origin received. */
  otherOrigin: Seen[];
  /** Requests that came back from the other origin ('redirect-bounce'). */
  bounced: Seen[];
  /** For each request that was rate-limited and sent again: the ms between one attempt and the next. */
  retryGaps: number[];
  /** Requests forwarded to the reference server (what really happened). */
  forwarded: Array<{ method: string; path: string; body: string; status: number }>;
  close(): Promise<void>;
}

/** `[{}, {}, …]`: `items` empty objects, four bytes each. */
export function megaArray(items: number): string {
  return `[${'{}, '.repeat(Math.max(0, items - 1))}{}]`;
}

/** Hard bound on anything that repeats on a timer, whatever the client does. */
const ENDLESS_BOUND_MS = 60_000;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function isPushers(path: string): boolean {
  return /\/pushers(\/set)?$/.test(path);
}

function where(options: MisbehavingOptions, method: string, path: string): boolean {
  if (options.method && options.method !== method) return false;
  if (options.at === 'pushers') return isPushers(path);
  if (options.at === 'versions') return path === '/_matrix/client/versions';
  return path.endsWith('/register');
}

/** Listens on 127.0.0.1:0 and tracks sockets, so close() ends even connections left hanging on purpose. */
async function listen(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // A reset client is what several modes are about: never an uncaught error here.
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

export async function startMisbehaving(options: MisbehavingOptions): Promise<MisbehavingServer> {
  const modeList: readonly Mode[] = typeof options.mode === 'string' ? [options.mode] : options.mode;
  const inner: RunningServer = await createReferenceServer({ port: 0 });
  const timers = new Set<NodeJS.Timeout>();
  const attempts = new Map<string, { count: number; last: number }>();
  let selfUrl = '';
  let otherUrlValue = '';

  const state: Omit<MisbehavingServer, 'url' | 'otherUrl' | 'close'> = { secrets: new Set(), hits: 0, bytesSent: 0, otherOrigin: [], bounced: [], retryGaps: [], forwarded: [] };

  /** Runs `tick` every `ms` until it returns false, the response closes, or the bound passes. */
  const every = (res: ServerResponse, ms: number, tick: () => boolean): void => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (res.destroyed || res.writableEnded || Date.now() - started > ENDLESS_BOUND_MS || !tick()) {
        clearInterval(timer);
        timers.delete(timer);
        if (!res.destroyed) res.destroy();
      }
    }, ms);
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };

  const forward = async (method: string, path: string, headers: Record<string, string | string[] | undefined>, body: string, res: ServerResponse, rewrite?: (text: string) => string): Promise<void> => {
    const fwd: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) fwd[k] = v;
    const r = await fetch(inner.url + path, { method, headers: fwd, ...(method === 'GET' || method === 'HEAD' ? {} : { body }), redirect: 'manual' });
    const text = await r.text();
    state.forwarded.push({ method, path: path.split('?')[0] as string, body, status: r.status });
    if (path.split('?')[0]?.endsWith('/register') && r.status === 200) {
      try {
        const token = (JSON.parse(text) as { access_token?: unknown }).access_token;
        if (typeof token === 'string') state.secrets.add(token);
      } catch {
        // not for us to judge
      }
    }
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
    res.end(rewrite ? rewrite(text) : text);
  };

  const misbehave = (req: IncomingMessage, res: ServerResponse, method: string, path: string, query: string, headers: Record<string, string | string[] | undefined>, body: string): boolean => {
    const o = options;
    const key = `${method} ${path} ${String(headers['authorization'])} ${body}`;
    const previous = attempts.get(key);
    if (previous) state.retryGaps.push(Date.now() - previous.last);
    const count = (previous?.count ?? 0) + 1;
    attempts.set(key, { count, last: Date.now() });
    const token = typeof headers['authorization'] === 'string' ? headers['authorization'].replace(/^Bearer /, '') : '';
    const turn = state.hits - 1;
    const mode = modeList[turn % modeList.length] as Mode;
    switch (mode) {
      case 'hang':
        return true;
      case 'headers-then-hang':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return true;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        state.bytesSent++;
        every(res, 200, () => {
          res.write(' ');
          state.bytesSent++;
          return true;
        });
        return true;
      }
      case 'drip-headers': {
        const head = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-slow: ' + 'a'.repeat(10_000));
        let i = 0;
        every(res, 200, () => {
          if (i >= head.length) return false;
          req.socket.write(head.subarray(i, ++i));
          return true;
        });
        return true;
      }
      case 'huge':
      case 'huge-chunked': {
        const total = o.hugeBytes ?? 5 * 2 ** 30;
        res.writeHead(200, { 'content-type': 'application/json', ...(mode === 'huge-chunked' ? {} : { 'content-length': String(total) }) });
        const chunk = Buffer.alloc(64 * 1024, ' ');
        let sent = 0;
        const started = Date.now();
        const pump = (): void => {
          // Stop when the client has gone, the body is complete, or the bound has passed.
          while (!res.destroyed && sent < total && Date.now() - started < ENDLESS_BOUND_MS) {
            const piece = sent === 0 ? Buffer.concat([Buffer.from('['), chunk.subarray(1)]) : chunk.subarray(0, Math.min(chunk.length, total - sent));
            sent += piece.length;
            state.bytesSent += piece.length;
            if (!res.write(piece)) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed && sent >= total) res.end();
          else if (!res.destroyed) res.destroy();
        };
        pump();
        return true;
      }
      case 'exact-size': {
        const size = o.exactBytes ?? 1024 * 1024;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(size) });
        res.end('{}' + ' '.repeat(size - 2));
        return true;
      }
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>');
        return true;
      case 'text':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('OK');
        return true;
      case 'empty':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' });
        res.end();
        return true;
      case 'deep-json': {
        const depth = o.depth ?? 400_000;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('['.repeat(depth) + ']'.repeat(depth));
        return true;
      }
      case 'deep-versions': {
        const depth = o.depth ?? 100_000;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"versions":["v1.11"],"unstable_features":${'{"a":'.repeat(depth)}true${'}'.repeat(depth)}}`);
        return true;
      }
      case 'reset':
        // Handled before the body is read (see the request handler).
        req.socket.resetAndDestroy();
        return true;
      case 'reset-mid-body':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"pushers": [');
        setTimeout(() => req.socket.resetAndDestroy(), 50).unref();
        return true;
      case 'garbage':
        req.socket.end('SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 this is not HTTP\r\n\r\n');
        return true;
      case 'huge-headers':
        res.writeHead(200, { 'content-type': 'application/json', 'x-big': 'a'.repeat(100_000) });
        res.end('{}');
        return true;
      case 'status':
        sendJson(res, o.statuses?.[turn % o.statuses.length] ?? 500, { errcode: 'M_UNKNOWN', error: 'Internal server error' });
        return true;
      case 'redirect-same':
        res.writeHead(o.redirectStatus ?? 307, { location: `${selfUrl}/_redirected${path}${query}`, 'content-type': 'text/html' });
        res.end('<a href="elsewhere">moved</a>');
        return true;
      case 'redirect-loop':
        res.writeHead(o.redirectStatus ?? 307, { location: `${path}${query}` });
        res.end();
        return true;
      case 'redirect-cross':
      case 'redirect-bounce':
        res.writeHead(o.redirectStatus ?? 307, { location: `${otherUrlValue}${path}${query}` });
        res.end();
        return true;
      case 'redirect-with-token':
        res.writeHead(o.redirectStatus ?? 302, { location: `${selfUrl}/login?access_token=${encodeURIComponent(token)}` });
        res.end();
        return true;
      case 'rate-limit':
        if (count > (o.times ?? 2)) return false;
        sendJson(res, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: o.retryAfterMs ?? 100 });
        return true;
      case 'rate-limit-header':
        if (count > (o.times ?? 2)) return false;
        sendJson(res, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests' }, { 'retry-after': o.retryAfterDate ? new Date(Date.now() + (o.retryAfterSeconds ?? 1) * 1000).toUTCString() : String(o.retryAfterSeconds ?? 1) });
        return true;
      case 'rate-limit-forever':
        sendJson(res, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: o.retryAfterMs ?? 100 });
        return true;
      case 'rate-limit-header-forever':
        res.writeHead(429, { 'retry-after': String(o.retryAfterSeconds ?? 1), 'content-type': 'text/plain' });
        res.end('Too Many Requests');
        return true;
      case 'echo-secrets-encoded': {
        const auth = typeof headers['authorization'] === 'string' ? headers['authorization'] : '';
        const secret = auth.replace(/^Bearer /i, '');
        let password = '';
        try {
          const p = (JSON.parse(body) as { password?: unknown }).password;
          if (typeof p === 'string') password = p;
        } catch {
          // not JSON
        }
        const forms = (s: string): string[] => (s === '' ? [] : [[...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''), s.replace(/\//g, '\\/'), [...Buffer.from(s)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''), encodeURIComponent(s), Buffer.from(s).toString('base64')]);
        const echoed = [...forms(secret), ...forms(password)].join(' | ');
        // Written by hand so the escapes reach the client as they are.
        res.writeHead(400, { 'content-type': 'application/json', 'x-echo': encodeURIComponent(secret) });
        res.end(`{"errcode":"M_UNKNOWN","error":"you sent ${echoed.replace(/"/g, '')}","echo":"${forms(secret)[0] ?? ''}"}`);
        return true;
      }
      case 'flows-null':
        sendJson(res, 401, { flows: [null], params: {}, session: 'sess-null' });
        return true;
      case 'stages-not-strings':
        sendJson(res, 401, { flows: [{ stages: [1, { type: 'm.login.dummy' }, null] }], completed: [null, 7], params: {}, session: 'sess-types' });
        return true;
      case 'stages-deep': {
        const depth = 100_000;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(`{"flows":[{"stages":${'['.repeat(depth)}"m.login.dummy"${']'.repeat(depth)}}],"session":"sess-deep"}`);
        return true;
      }
      case 'register-objects':
        sendJson(res, 200, { user_id: { evil: true }, access_token: { token: 'x' }, device_id: 7 });
        return true;
      case 'unknown-stage':
        sendJson(res, 401, { flows: [{ stages: ['m.login.recaptcha'] }, { stages: ['m.login.email.identity', 'm.login.terms'] }], params: {}, session: 'sess-unknown-stage' });
        return true;
      case 'echo-secrets': {
        const auth = typeof headers['authorization'] === 'string' ? headers['authorization'] : '';
        const echoed = `${auth} ${body}`;
        res.writeHead(400, { 'content-type': 'application/json', 'x-echo': auth, ...(token && /^[\w.~-]+$/.test(token) ? { [`x-echo-${token}`]: '1' } : {}) });
        res.end(JSON.stringify({ errcode: 'M_UNKNOWN', error: `you sent ${echoed}`, token, echo: body }));
        return true;
      }
      case 'pushers-malformed':
        // Handled where the answer is forwarded (it rewrites the real one).
        return false;
      case 'mega-json': {
        const size = o.exactBytes ?? 1_000_000;
        res.writeHead(turn % 2 === 0 ? 200 : 400, { 'content-type': 'application/json' });
        res.end(`{"errcode":"M_UNKNOWN","error":"big","filler":"${'x'.repeat(size - 60)}","pushers":[]}`);
        return true;
      }
      case 'mega-array':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(megaArray(o.items ?? 262_000));
        return true;
    }
  };

  const server = createHttpServer((req, res) => {
    void (async () => {
      const method = req.method ?? 'GET';
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      let path = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const query = q < 0 ? '' : rawUrl.slice(q);
      const headers = { ...req.headers };
      if (!path.startsWith('/_bounced/') && !path.startsWith('/_redirected/') && where(options, method, path) && modeList[state.hits % modeList.length] === 'reset') {
        state.hits++;
        req.socket.resetAndDestroy();
        return;
      }
      const body = await readBody(req);
      if (path.endsWith('/register')) {
        try {
          const password = (JSON.parse(body) as { password?: unknown }).password;
          if (typeof password === 'string') state.secrets.add(password);
        } catch {
          // not JSON: nothing to record
        }
      }
      if (path.startsWith('/_bounced/')) {
        state.bounced.push({ method, path, headers, body });
        path = path.slice('/_bounced'.length);
      } else if (path.startsWith('/_redirected/')) path = path.slice('/_redirected'.length);
      else if (where(options, method, path)) {
        state.hits++;
        if (modeList[(state.hits - 1) % modeList.length] === 'pushers-malformed') {
          if (method !== 'GET') return void (await forward(method, path + query, headers, body, res));
          return void (await forward(method, path + query, headers, body, res, (text) => {
            const real = (JSON.parse(text) as { pushers?: unknown[] }).pushers ?? [];
            return JSON.stringify({ pushers: [null, 7, 'x', { app_id: { o: 1 }, pushkey: [1] }, { app_id: null }, ...real] });
          }));
        }
        if (misbehave(req, res, method, path, query, headers, body)) return;
      }
      await forward(method, path + query, headers, body, res);
    })().catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 502, { errcode: 'M_UNKNOWN', error: `misbehaving-server: ${String(err)}` });
      else res.destroy();
    });
  });

  /** The other origin: records everything, answers like a server that wants a token, or bounces back. */
  const other = createHttpServer((req, res) => {
    void readBody(req).then((body) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      state.otherOrigin.push({ method: req.method ?? 'GET', path, headers: { ...req.headers }, body });
      if (modeList.includes('redirect-bounce')) {
        res.writeHead(307, { location: `${selfUrl}/_bounced${req.url ?? '/'}` });
        res.end();
      } else if (req.headers['authorization']) sendJson(res, 200, {});
      else sendJson(res, 401, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' });
    });
  });

  const main = await listen(server);
  const second = await listen(other);
  selfUrl = main.url;
  otherUrlValue = second.url;

  return Object.assign(state, {
    url: main.url,
    otherUrl: second.url,
    async close() {
      for (const t of timers) clearInterval(t);
      timers.clear();
      await Promise.all([main.close(), second.close()]);
      await inner.close();
    },
  });
}

/** A loopback port nothing listens on: connections to it are refused. */
export async function closedPort(): Promise<number> {
  // Below the range the OS hands out for port 0 (32768 and up on Linux), so no
  // server a test starts, here or in a test file running beside it, can take it
  // between this check and the run; a port freed after listening on it could be.
  for (let port = 20_000 + Math.floor(Math.random() * 1000); port < 32_000; port += 97) {
    if (await refuses(port)) return port;
  }
  throw new Error('no closed port found on 127.0.0.1 below 32000');
}

/** Whether a connection to the port on loopback is refused (nothing listens there). */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
