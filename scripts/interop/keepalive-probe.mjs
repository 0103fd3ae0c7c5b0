#!/usr/bin/env node
// Does a homeserver close keep-alive connections the runner would reuse?
//   node scripts/interop/keepalive-probe.mjs URL [PAUSE_MS ...]
// URL must be a loopback http(s) URL. For each pause (default: 500 3500 3900
// 4100 6000 ms), sends GET /_matrix/client/versions, waits the pause, and
// sends it again with the runner's undici settings (keepAliveTimeout 4 s),
// noting whether the second request reused the socket and how it ended.
// Bounded: at most 20 pauses of at most 120 s each and 300 s in all, and 10 s per request.
import { Agent, request } from 'undici';

const [url, ...rest] = process.argv.slice(2);
if (!url) {
  console.error('usage: keepalive-probe.mjs URL [PAUSE_MS ...]');
  process.exit(2);
}
const u = new URL(url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
  console.error(`keepalive-probe: only loopback targets, got ${u.hostname}`);
  process.exit(2);
}
const pauses = (rest.length ? rest.map(Number) : [500, 3500, 3900, 4100, 6000]).slice(0, 20);
if (pauses.some((p) => !Number.isFinite(p) || p < 0 || p > 120_000) || pauses.reduce((a, b) => a + b, 0) > 300_000) {
  console.error('keepalive-probe: pauses are 0 to 120000 ms each, 300000 ms in all');
  process.exit(2);
}
const keepAliveTimeout = Number(process.env.KEEPALIVE_TIMEOUT_MS ?? 4000);
const target = `${u.origin}/_matrix/client/versions`;

for (const pause of pauses) {
  const agent = new Agent({ keepAliveTimeout, connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  let connects = 0;
  let disconnects = [];
  agent.on('connect', () => connects++);
  agent.on('disconnect', (_origin, _targets, err) => disconnects.push(err?.message ?? String(err)));
  const one = async () => {
    const res = await request(target, { dispatcher: agent, signal: AbortSignal.timeout(10_000) });
    await res.body.text();
    return { status: res.statusCode, connection: res.headers['connection'] ?? '-', keepAlive: res.headers['keep-alive'] ?? '-' };
  };
  let line;
  try {
    const a = await one();
    await new Promise((r) => setTimeout(r, pause));
    const before = connects;
    const b = await one();
    line = `pause ${pause} ms: ${a.status} then ${b.status}; ${connects > before ? 'new connection' : 'socket reused'}; server said connection: ${a.connection}, keep-alive: ${a.keepAlive}`;
  } catch (err) {
    line = `pause ${pause} ms: ERROR ${err.code ?? ''} ${err.message}`;
  }
  if (disconnects.length) line += `; disconnects: ${disconnects.join(' | ')}`;
  console.log(line);
  await agent.close();
}
