/**
 * A proxy on 127.0.0.1 that forwards every request to an upstream server and
 * answers `delayMs` later than the upstream did: a stand-in for a homeserver
 * far away. It counts every request it sees (registration, preflight and
 * cleanup included) and sums their latencies as the client experiences them
 * at the proxy (arrival of the request → last byte of the answer written).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { sleep } from './stats.js';

export interface ProxyStats {
  requests: number;
  /** Sum over requests of (answer finished − request arrived), in ms. */
  sumLatencyMs: number;
  /** Requests by kind: register, versions, pushers/set, pushers (GET), other. */
  byKind: Record<string, number>;
  /** Requests the proxy could not forward (answered 502). */
  upstreamErrors: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
}

export interface LatencyProxy {
  url: string;
  stats(): ProxyStats;
  reset(): void;
  close(): Promise<void>;
}

/** Request bodies are read up to this; the suite's largest is a few KiB. */
const MAX_BODY_BYTES = 1024 * 1024;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function kindOf(method: string, path: string): string {
  if (path.endsWith('/register')) return 'register';
  if (path === '/_matrix/client/versions') return 'versions';
  if (path.endsWith('/pushers/set')) return 'pushers/set';
  if (path.endsWith('/pushers') && method === 'GET') return 'GET pushers';
  return 'other';
}

/** A request's body, refused past MAX_BODY_BYTES. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new Error('request body over the proxy cap'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startLatencyProxy(upstream: string, delayMs: number): Promise<LatencyProxy> {
  const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 10_000, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const fresh = (): ProxyStats => ({ requests: 0, sumLatencyMs: 0, byKind: {}, upstreamErrors: 0, maxInFlight: 0 });
  let stats = fresh();
  let inFlight = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrived = performance.now();
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const kind = kindOf(method, target.split('?')[0] ?? target);
    stats.requests += 1;
    stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
    inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    const counted = stats;
    res.on('close', () => {
      inFlight -= 1;
      counted.sumLatencyMs += performance.now() - arrived;
    });

    let status = 502;
    let headers: Record<string, string> = { 'content-type': 'application/json' };
    let body: Buffer = Buffer.from('{"errcode":"M_UNKNOWN","error":"bench proxy: upstream failed"}');
    try {
      const payload = await readBody(req);
      const fwd: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !HOP_BY_HOP.has(k)) fwd[k] = v;
      const up = await pool.request({
        path: target,
        method: method as 'GET',
        headers: fwd,
        ...(method === 'GET' || method === 'HEAD' ? {} : { body: payload }),
        signal: AbortSignal.timeout(15_000),
      });
      body = Buffer.from(await up.body.arrayBuffer());
      status = up.statusCode;
      headers = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
    } catch {
      stats.upstreamErrors += 1;
    }
    await sleep(delayMs);
    if (res.destroyed) return;
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    res.end(body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats, byKind: { ...stats.byKind } }),
    reset: () => {
      stats = fresh();
    },
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await pool.destroy();
      })();
      return closing;
    },
  };
}
