/**
 * Rate limits are waited out within a time budget, not a number of tries: a
 * server may answer 429 with no wait, or a wait of 0, as often as it likes and
 * the request still goes through, with a growing back-off in between.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient } from '../src/http/client.js';
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
      expect(sent.attempts).to.equal(5);
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
