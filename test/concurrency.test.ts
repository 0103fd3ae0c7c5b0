/**
 * Concurrency and repetition: cases run side by side yet the report keeps
 * suite order, --jobs 1 really runs one case at a time, and --repeat finds a
 * server whose answers vary.
 */
import { expect } from 'chai';
import { loadSuite, run } from '../src/kinds.js';
import { isFailing } from '../src/run/types.js';
import { json, isSet, startProxy, type Mutation } from './support/proxy-server.js';

/** Counts requests in flight at the proxy (each answer is delayed a little so overlaps show). */
function inFlightCounter(): { mutation: Mutation; max: () => number } {
  let now = 0;
  let max = 0;
  return {
    max: () => max,
    mutation: {
      name: 'counts requests in flight',
      onRequest: async () => {
        now++;
        max = Math.max(max, now);
        await new Promise((r) => setTimeout(r, 5));
        return undefined;
      },
      onResponse: () => {
        now--;
        return undefined;
      },
    },
  };
}

describe('concurrency', function () {
  this.timeout(60_000);
  const suite = loadSuite();

  it('runs cases concurrently by default and reports them in suite order', async function () {
    const counter = inFlightCounter();
    const server = await startProxy(counter.mutation);
    try {
      const report = await run({ target: server.url, editions: ['v1', 'draft'], suite });
      expect(report.results.map((r) => r.id)).to.deep.equal(suite.cases.map((c) => c.id));
      expect(report.results.every((r) => !isFailing(r, true))).to.equal(true);
      expect(counter.max(), 'requests in flight at once').to.be.greaterThan(4);
    } finally {
      await server.close();
    }
  });

  it('--jobs 1 sends one request at a time', async function () {
    const counter = inFlightCounter();
    const server = await startProxy(counter.mutation);
    try {
      const report = await run({ target: server.url, editions: ['v1'], suite, jobs: 1, grep: 'append' });
      expect(report.results.length).to.be.greaterThan(1);
      expect(counter.max()).to.equal(1);
    } finally {
      await server.close();
    }
  });

  it('--repeat reports a case whose outcome varies as flaky', async function () {
    // Every third successful create answers 201 instead of 200: a server that is only sometimes wrong.
    let n = 0;
    const server = await startProxy({
      name: 'sometimes 201',
      onResponse: (req, res) => (isSet(req, 'v1') && res.status === 200 && typeof (req.json as { kind?: unknown })?.kind === 'string' && ++n % 3 === 0 ? { ...res, status: 201 } : undefined),
    });
    try {
      const report = await run({ target: server.url, editions: ['v1'], suite, repeat: 6, grep: 'v1.set.valid-pusher' });
      expect(report.meta.repeat).to.equal(6);
      const [r] = report.results;
      expect(report.results).to.have.length(1);
      expect(r?.flaky?.length).to.equal(6);
      expect(new Set(r?.flaky)).to.have.keys('passed', 'failed');
      expect(r?.error?.code).to.equal('ERR_FLAKY');
      expect(isFailing(r!, false)).to.equal(true);
    } finally {
      await server.close();
    }
  });

  it('--repeat on a steady server gives one result per case and no flakiness', async function () {
    const server = await startProxy({ name: 'plain' });
    try {
      const report = await run({ target: server.url, editions: ['v1'], suite, repeat: 3, grep: 'delete' });
      expect(report.results.length).to.equal(suite.cases.filter((c) => c.edition === 'v1' && (c.id.includes('delete') || c.title.toLowerCase().includes('delete') || c.tags.includes('delete'))).length);
      // Delivery cases need the mock gateway, which this run does not offer: they are skipped, with that reason.
      const judged = report.results.filter((r) => r.skipCode !== 'needs-gateway');
      expect(judged.length).to.be.greaterThan(5);
      expect(judged.filter((r) => !(r.outcome === 'passed' && r.flaky === undefined)).map((r) => `${r.id}: ${r.outcome}`)).to.deep.equal([]);
    } finally {
      await server.close();
    }
  });

  it('a 429 is waited out, never a failure by itself', async function () {
    // Every second pushers request is refused once with 429 and a short retry_after_ms.
    let k = 0;
    const server = await startProxy({ name: 'rate limited', onRequest: (req) => (req.path.includes('/pushers') && ++k % 2 === 0 ? json(429, { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 20 }) : undefined) });
    try {
      const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'round-trip' });
      expect(report.results.length).to.be.greaterThan(0);
      for (const r of report.results) expect(r.outcome, `${r.id}: ${r.error?.message ?? ''}`).to.equal('passed');
      expect(k).to.be.greaterThan(report.results.length);
    } finally {
      await server.close();
    }
  });
});
