/**
 * Memory against a target that floods the runner's mock push gateway: the
 * CLI's peak RSS in a run against a proxy in front of the reference server
 * that, when a pusher names a loopback notify URL (the gateway's), posts
 * FLOOD_POKES pokes of FLOOD_BYTES (`[{},{},…]`, naming no pushkey) to it,
 * FLOOD_AT_ONCE at a time, and holds every answer to the runner until the
 * flood is over; against the same proxy without the flood for the baseline.
 * Bounded: the flood stops at FLOOD_BOUND_MS, the CLI is killed at twice that.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { createServer } from '../reference-server/index.js';
import { runCli } from './cli-process.js';
import { readBody } from './latency-proxy.js';
import { ms, round } from './stats.js';

const FLOOD_POKES = 10_000;
const FLOOD_BYTES = 64_000;
const FLOOD_AT_ONCE = 8;
const FLOOD_BOUND_MS = 90_000;

interface Flood {
  sent: number;
  statuses: Record<string, number>;
  ms: number;
}

/** Posts the flood to `url`, FLOOD_AT_ONCE at a time on kept connections, within the bound. */
async function flood(url: string): Promise<Flood> {
  const body = Buffer.from(`[${Array(Math.floor((FLOOD_BYTES - 2) / 3)).fill('{}').join(',')}]`);
  const agent = new Agent({ keepAlive: true, maxSockets: FLOOD_AT_ONCE, rejectUnauthorized: false });
  const started = performance.now();
  const out: Flood = { sent: 0, statuses: {}, ms: 0 };
  const post = (): Promise<number> =>
    new Promise((resolve) => {
      const req = httpsRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length }, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const worker = async (): Promise<void> => {
    while (out.sent < FLOOD_POKES && performance.now() - started < FLOOD_BOUND_MS) {
      out.sent++;
      const status = String(await post());
      out.statuses[status] = (out.statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: FLOOD_AT_ONCE }, worker));
  agent.destroy();
  out.ms = round(performance.now() - started);
  return out;
}

/** The gateway URL a pusher set names, when it is on loopback. */
function gatewayOf(body: Buffer): string | undefined {
  try {
    const url = (JSON.parse(body.toString('utf8')) as { data?: { url?: unknown } }).data?.url;
    return typeof url === 'string' && /^https:\/\/127\.0\.0\.1:\d+\/_matrix\/push\/v1\/notify$/.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A proxy that floods the first gateway a pusher names, and holds every answer while it floods. */
async function floodingProxy(upstream: string, enabled: boolean): Promise<{ url: string; result: () => Flood | undefined; close: () => Promise<void> }> {
  const pool = new Pool(upstream, { connections: 64 });
  let flooding: Promise<Flood> | undefined;
  let result: Flood | undefined;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const payload = await readBody(req);
    const target = enabled && !flooding && req.method === 'POST' && req.url?.endsWith('/pushers/set') ? gatewayOf(payload) : undefined;
    if (target) flooding = flood(target).then((f) => (result = f));
    if (flooding) await flooding;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) headers[k] = v;
    const up = await pool.request({ path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, ...(req.method === 'GET' ? {} : { body: payload }) });
    const text = Buffer.from(await up.body.arrayBuffer());
    res.writeHead(up.statusCode, { 'content-type': typeof up.headers['content-type'] === 'string' ? up.headers['content-type'] : 'application/json' });
    res.end(text);
  };
  const server: Server = createHttpServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    result: () => result,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.destroy();
    },
  };
}

/** One CLI run (v1, delivery over TLS) against the proxy, flooding or not. */
async function measured(enabled: boolean): Promise<{ peakRssMb: number; wallMs: number; code: number | null; flood?: Flood }> {
  const server = await createServer({ port: 0, pushTlsVerify: false });
  const proxy = await floodingProxy(server.url, enabled);
  try {
    const run = await runCli(['--target', proxy.url, '--edition', 'v1', '--gateway-tls', '--timeout', String(FLOOD_BOUND_MS + 30_000), '--reporter', 'json'], FLOOD_BOUND_MS * 2);
    const f = proxy.result();
    return { peakRssMb: run.peakRssMb, wallMs: round(run.wallMs), code: run.code, ...(f ? { flood: f } : {}) };
  } finally {
    await proxy.close();
    await server.close();
  }
}

export async function gatewayFlood(): Promise<Record<string, unknown>> {
  const normal = await measured(false);
  const flooded = await measured(true);
  const added = round(flooded.peakRssMb - normal.peakRssMb);
  const f = flooded.flood;
  process.stdout.write(`a normal run: peak RSS ${normal.peakRssMb} MB, ${ms(normal.wallMs)}, exit ${String(normal.code)}\n`);
  process.stdout.write(`the same run while the target floods the gateway${f ? ` (${f.sent} pokes of ${FLOOD_BYTES} bytes, ${FLOOD_AT_ONCE} at a time, in ${ms(f.ms)}; answers ${Object.entries(f.statuses).map(([k, v]) => `${k} ×${v}`).join(', ')})` : ' (no flood started)'}: peak RSS ${flooded.peakRssMb} MB, ${ms(flooded.wallMs)}, exit ${String(flooded.code)}\n`);
  process.stdout.write(`added by the flood: ${added} MB (goal ≤ 50 MB)\n`);
  return { normal, flooded, addedMb: added, pokes: FLOOD_POKES, pokeBytes: FLOOD_BYTES, atOnce: FLOOD_AT_ONCE };
}
