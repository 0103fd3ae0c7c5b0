/**
 * Rate limits are waited out within a time budget, not a number of tries: a
 * server may answer 429 with no wait, or a wait of 0, as often as it likes and
 * the request still goes through, with a growing back-off in between.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { makeCertificate } from '../src/areas/delivery/gateway/cert.js';
import { HttpClient, type Timings } from '../src/http/client.js';
import { Transport, type RateLimitWait } from '../src/http/transport.js';

interface Limiter {
  url: string;
  hits: number[];
  close(): Promise<void>;
}

/** Answers 429 (with the given headers and body) to the first `times` requests, then 200 {}. */
async function limiter(times: number, answer: { headers?: Record<string, string>; body?: string }): Promise<Limiter> {
  const hits: number[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    hits.push(performance.now());
    if (hits.length <= times) {
      res.writeHead(429, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body ?? '{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function transport(budgetMs: number, waits: RateLimitWait[]): Transport {
  return new Transport(new HttpClient({ timeoutMs: 2000, maxBodyBytes: 1 << 16 }), { rateLimitBudgetMs: budgetMs, onRateLimit: (w) => waits.push(w), random: () => 0.5, backoffBaseMs: 10 });
}

describe('rate limits', function () {
  this.timeout(20_000);

  it('a 429 with Retry-After: 0 eight times in a row is waited out with a growing back-off', async function () {
    const server = await limiter(8, { headers: { 'retry-after': '0' } });
    const waits: RateLimitWait[] = [];
    const t = transport(60_000, waits);
    try {
      const sent = await t.send({ method: 'POST', url: server.url, headers: {}, body: '{}' });
      expect(sent.res.status).to.equal(200);
      expect(sent.attempts).to.equal(9);
      expect(waits.map((w) => w.source)).to.deep.equal(Array(8).fill('back-off'));
      // With jitter fixed at its middle, each wait is 3/4 of a doubling base.
      for (let i = 1; i < waits.length; i++) expect((waits[i] as RateLimitWait).waitMs, `wait ${i + 1} is longer than wait ${i}`).to.be.greaterThan((waits[i - 1] as RateLimitWait).waitMs);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('a 429 without any wait named gets a back-off too', async function () {
    const server = await limiter(3, { body: 'Too Many Requests', headers: { 'content-type': 'text/plain' } });
    const waits: RateLimitWait[] = [];
    const t = transport(60_000, waits);
    try {
      expect((await t.send({ method: 'GET', url: server.url, headers: {} })).res.status).to.equal(200);
      expect(waits).to.have.length(3);
      expect(Math.min(...waits.map((w) => w.waitMs))).to.be.greaterThan(0);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('follows retry_after_ms, and Retry-After in seconds or as a date', async function () {
    // The date is made just before its server starts, three seconds ahead: HTTP dates have whole seconds.
    for (const [answer, source] of [
      [() => ({ body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":150}' }), 'retry_after_ms'],
      [() => ({ headers: { 'retry-after': '1' } }), 'retry-after'],
      [() => ({ headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } }), 'retry-after'],
    ] as const) {
      const server = await limiter(1, answer());
      const waits: RateLimitWait[] = [];
      const t = transport(60_000, waits);
      try {
        expect((await t.send({ method: 'GET', url: server.url, headers: {} })).res.status).to.equal(200);
        expect(waits.map((w) => w.source)).to.deep.equal([source]);
        const gap = (server.hits[1] as number) - (server.hits[0] as number);
        expect(gap, 'the retry came after the wait asked for').to.be.at.least((waits[0] as RateLimitWait).waitMs - 20);
      } finally {
        await t.close();
        await server.close();
      }
    }
  });

  it('stops when the budget runs out, and never waits for a server asking for more than the budget', async function () {
    const forever = await limiter(Infinity, { body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":100}' });
    const hour = await limiter(Infinity, { body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":3600000}' });
    const waits: RateLimitWait[] = [];
    const t = transport(450, waits);
    try {
      const started = performance.now();
      const sent = await t.send({ method: 'GET', url: forever.url, headers: {} });
      expect(sent.res.status).to.equal(429);
      expect(sent.waitedMs).to.be.at.most(450);
      // Each wait is the 100 ms asked for; how many fit in 450 ms depends on how fast the round trips are, not on the rule.
      expect(sent.attempts, 'one try more than the waits').to.equal(waits.length + 1);
      expect(waits.length, 'it waited, then stopped').to.be.within(1, 4);
      expect(waits.reduce((sum, w) => sum + w.waitMs, 0), 'the waits fit in the budget').to.be.at.most(450);
      expect(performance.now() - started).to.be.below(5000);
      const asked = await t.send({ method: 'GET', url: hour.url, headers: {} });
      expect(asked.res.status).to.equal(429);
      expect(asked.attempts, 'no wait was started').to.equal(1);
    } finally {
      await t.close();
      await forever.close();
      await hour.close();
    }
  });
});

describe('timings of an exchange', function () {
  this.timeout(20_000);
  const sum = (t: Timings): number => t.blocked + Math.max(0, t.connect) + t.send + t.wait + t.receive;

  it('a request that opened its connection has a connect time, one that reused a connection -1; plain HTTP has no TLS time', async function () {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    let connections = 0;
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const client = new HttpClient({ timeoutMs: 2000, maxBodyBytes: 1 << 16 });
    try {
      const all: Timings[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await client.send(i === 0 ? { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: '{}' } : { method: 'GET', url, headers: {} });
        expect(Math.abs(sum(r.timings) - r.durationMs), 'the phases add up to the whole').to.be.below(1);
        all.push(r.timings);
      }
      expect(all[0]?.connect, 'the first request opened a connection').to.be.at.least(0);
      expect(all.filter((t) => t.connect >= 0).length, 'one connect time per connection the server saw').to.equal(connections);
      expect(all.some((t) => t.connect === -1), 'sequential requests reuse a kept-alive connection').to.equal(true);
      for (const t of all) expect(t.ssl).to.equal(-1);
    } finally {
      await client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a server slow to take up a connection (a stalled accept, the TLS handshake waits 400 ms) shows as connect and TLS time, not as wait', async function () {
    const cert = makeCertificate();
    const tls = createTlsServer({ key: cert.key, cert: cert.cert }, (socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'));
    });
    const held: Socket[] = [];
    const front = createNetServer((socket) => {
      held.push(socket);
      // The connection is only handed to the TLS server after 400 ms: no handshake answer before then.
      setTimeout(() => tls.emit('connection', socket), 400);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const client = new HttpClient({ timeoutMs: 5000, maxBodyBytes: 1 << 16, ca: cert.cert });
    try {
      const res = await client.send({ method: 'GET', url: `https://127.0.0.1:${(front.address() as AddressInfo).port}/`, headers: {} });
      expect(res.status).to.equal(200);
      expect(res.timings.connect, JSON.stringify(res.timings)).to.be.at.least(390);
      expect(res.timings.ssl, JSON.stringify(res.timings)).to.be.at.least(390);
      expect(res.timings.wait, JSON.stringify(res.timings)).to.be.below(300);
    } finally {
      await client.close();
      for (const s of held) s.destroy();
      await new Promise<void>((r) => front.close(() => r()));
    }
  });
});

describe('the parts of undici the client takes', function () {
  it("are the very objects undici's index exports, so that loading only them changes nothing", async function () {
    const { undiciInUse } = await import('../src/http/client.js');
    const undici = await import('undici');
    expect(undiciInUse.Agent).to.equal(undici.Agent);
    expect(undiciInUse.buildConnector).to.equal(undici.buildConnector);
    expect(undiciInUse.errors).to.equal(undici.errors);
    // The index puts the request API on every dispatcher; the client calls the same function on its agent.
    const { createRequire } = await import('node:module');
    const apiRequest: unknown = createRequire(import.meta.url)('undici/lib/api/api-request.js');
    expect(apiRequest).to.equal((undici.Dispatcher.prototype as unknown as { request: unknown }).request);
  });

  it('sends a query string, an encoded path and a body as undici.request would', async function () {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new HttpClient({ timeoutMs: 5_000, maxBodyBytes: 1_000 });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await client.send({ method: 'PUT', url: `${base}/_matrix/client/v3/pushrules/global/content/a%2Fb?x=1&y=%20`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      await client.send({ method: 'GET', url: `${base}/p`, headers: {} });
      expect(seen).to.deep.equal(['PUT /_matrix/client/v3/pushrules/global/content/a%2Fb?x=1&y=%20 {"a":1}', 'GET /p ']);
    } finally {
      await client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
