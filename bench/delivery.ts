/**
 * Delivery latency against the reference server: the time from the answer
 * to `PUT /rooms/{id}/send` to the poke arriving at the runner's mock push
 * gateway (HTTPS, a certificate made for the run), for messages sent one
 * after the other. Bounded: at most MESSAGES messages and BOUND_MS in all.
 */
import { request } from 'undici';
import { MockGateway } from '../src/areas/delivery/gateway/index.js';
import { createServer } from '../reference-server/index.js';
import { percentile, round } from './stats.js';

const MESSAGES = 50;
const BOUND_MS = 60_000;

async function call(base: string, method: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await request(base + path, { method: method as 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return (await res.body.json()) as Record<string, unknown>;
}

async function register(base: string, name: string): Promise<{ token: string; userId: string }> {
  const first = await call(base, 'POST', '/_matrix/client/v3/register', { username: name });
  const done = await call(base, 'POST', '/_matrix/client/v3/register', { username: name, password: 'bench password', auth: { type: 'm.login.dummy', session: first['session'] } });
  return { token: done['access_token'] as string, userId: done['user_id'] as string };
}

export async function deliveryLatency(): Promise<{ messages: number; p50: number; p90: number; max: number; lost: number }> {
  const server = await createServer({ port: 0, pushTlsVerify: false });
  const gateway = await MockGateway.start({ tls: true });
  const started = performance.now();
  try {
    const alice = await register(server.url, 'bench_alice');
    const bob = await register(server.url, 'bench_bob');
    await call(server.url, 'POST', '/_matrix/client/v3/pushers/set', { kind: 'http', app_id: 'bench', pushkey: 'bench-key', app_display_name: 'b', device_display_name: 'b', lang: 'en', data: { url: gateway.url } }, alice.token);
    const room = (await call(server.url, 'POST', '/_matrix/client/v3/createRoom', { preset: 'private_chat', invite: [bob.userId] }, alice.token))['room_id'] as string;
    await call(server.url, 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/join`, {}, bob.token);
    const samples: number[] = [];
    let lost = 0;
    for (let i = 0; i < MESSAGES && performance.now() - started < BOUND_MS; i++) {
      const answer = await call(server.url, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t${i}`, { msgtype: 'm.text', body: `message ${i}` }, bob.token);
      const sent = performance.now();
      const event = answer['event_id'];
      const poke = await gateway.waitFor('bench-key', (p) => (p.body as { notification?: { event_id?: unknown } })?.notification?.event_id === event, 5000);
      if (poke) samples.push(poke.at - sent);
      else lost++;
    }
    return { messages: samples.length, p50: round(percentile(samples, 50), 2), p90: round(percentile(samples, 90), 2), max: round(percentile(samples, 100), 2), lost };
  } finally {
    await gateway.close();
    await server.close();
  }
}
