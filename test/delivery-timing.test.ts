/**
 * How long delivery cases wait, and what the run says about it: quiet periods
 * derived from the latency seen (or fixed with --quiet-period) and stated in
 * each case's result, a retry window the user shortened leaving a missing
 * retry not judged, waits of more than a second shown live, the cases that
 * wait longest started first, and the kept suite standing for the case files.
 */
import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { keptSuite, suiteFingerprint } from '../src/cases/kept.js';
import { readSuite } from '../src/cases/load.js';
import { gatewayService } from '../src/areas/delivery/gateway/index.js';
import { DeliveryTiming, QUIET_CEILING_MS, QUIET_FACTOR, QUIET_FLOOR_MS } from '../src/areas/delivery/gateway/timing.js';
import { render } from '../src/report/index.js';
import { terminalReporter } from '../src/report/terminal.js';
import { expectKinds, loadSuite, run, stepKinds } from '../src/kinds.js';
import type { Plan } from '../src/run/runner.js';
import { Slots } from '../src/run/slots.js';
import { isFailing, type CaseResult, type WaitEvent } from '../src/run/types.js';
import { BROKEN_DELIVERY } from './support/delivery-mutations.js';
import { startProxy, type Mutation } from './support/proxy-server.js';
import { TEST_TIME_SCALE } from './support/timing.js';

const KINDS = { steps: stepKinds, expects: expectKinds };

describe('delivery timing', function () {
  this.timeout(60_000);
  const suite = loadSuite();

  it('derives the quiet period from the slowest poke: the floor, then 3 × it, then the ceiling; a fixed one when given', function () {
    const t = new DeliveryTiming();
    expect(t.quietPeriod()).to.include({ kind: 'quiet', ms: QUIET_FLOOR_MS });
    expect(t.quietPeriod().basis).to.equal(`the floor of ${QUIET_FLOOR_MS} ms (no poke measured yet)`);
    t.noteLatency(12);
    t.noteLatency(-3);
    expect(t.quietPeriod().ms).to.equal(QUIET_FLOOR_MS);
    t.noteLatency(100);
    expect(t.quietPeriod()).to.deep.equal({ kind: 'quiet', ms: QUIET_FACTOR * 100, basis: `${QUIET_FACTOR} × 100 ms (the slowest of 3 poke(s) so far took 100 ms)` });
    t.noteLatency(60_000);
    expect(t.quietPeriod().ms).to.equal(QUIET_CEILING_MS);
    expect(new DeliveryTiming({ quietPeriodMs: 40 }).quietPeriod()).to.deep.equal({ kind: 'quiet', ms: 40, basis: 'set with --quiet-period' });
  });

  it('scales timeouts and windows for tests, and says when the user shortened the retry window', function () {
    expect(new DeliveryTiming().retryWindow()).to.include({ ms: 65_000, shortened: false });
    expect(new DeliveryTiming({ timeScale: 0.2 }).retryWindow()).to.include({ ms: 13_000, shortened: false });
    expect(new DeliveryTiming({ timeScale: 0.2 }).awaitMs()).to.equal(3000);
    expect(new DeliveryTiming({ retryWindowMs: 10_000 }).retryWindow()).to.include({ ms: 10_000, shortened: true, basis: 'set with --retry-window' });
    expect(new DeliveryTiming({ retryWindowMs: 120_000 }).retryWindow()).to.include({ ms: 120_000, shortened: false });
  });

  it('states the period of each check in the case results, derived or fixed', async function () {
    for (const quietPeriodMs of [undefined, 300]) {
      const server = await startProxy({ name: 'the reference server', delivery: true });
      try {
        const services = new Map([['gateway', gatewayService(server.url, { tls: true, timeScale: TEST_TIME_SCALE, ...(quietPeriodMs ? { quietPeriodMs } : {}) })]]);
        const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'push.', strict: true, services });
        expect(report.results.filter((r) => isFailing(r, true)).map((r) => r.id)).to.deep.equal([]);
        const periods = new Map(report.results.map((r) => [r.id, r.periods ?? []]));
        expect(periods.get('v1.push.own-message-not-poked')?.map((p) => p.kind)).to.deep.equal(['quiet']);
        expect(periods.get('v1.push.stops-after-delete')?.map((p) => p.kind)).to.deep.equal(['quiet']);
        expect(periods.get('v1.push.rejected-pushkey')?.map((p) => p.kind)).to.deep.equal(['wait', 'quiet']);
        expect(periods.get('v1.push.retry-after-error')).to.deep.equal([{ step: 7, kind: 'window', ms: 65_000 * TEST_TIME_SCALE, basis: 'the default retry window' }]);
        // The people's reports state them too: the case's line in the spec report, its row in the HTML one.
        const own = report.results.find((r) => r.id === 'v1.push.own-message-not-poked') as CaseResult;
        const said = `quiet period ${own.periods?.[0]?.ms} ms at step ${own.periods?.[0]?.step}`;
        const lines: string[] = [];
        terminalReporter.create({ strict: true, color: false, write: (t) => lines.push(t) }).caseDone?.(own, { done: 1, total: 1, running: 0, failed: 0 });
        expect(lines.join('')).to.match(new RegExp(`pass +v1\\.push\\.own-message-not-poked \\(\\d+ ms; ${said}\\)`));
        expect(render(report, 'html')).to.include(`(${said})`);
        for (const p of [...periods.values()].flat().filter((x) => x.kind !== 'window')) {
          if (quietPeriodMs) expect(p).to.include({ ms: quietPeriodMs, basis: 'set with --quiet-period' });
          else {
            expect(p.ms).to.be.within(QUIET_FLOOR_MS, QUIET_CEILING_MS);
            expect(p.basis).to.match(/poke\(s\) so far took \d+ ms\)$/);
          }
        }
      } finally {
        await server.close();
      }
    }
  });

  it('leaves a missing retry not judged within a window the user shortened: skipped with code retry-window, the run passes', async function () {
    const never = BROKEN_DELIVERY.find((m) => m.violates === 'v1.push.retry' && /never sent again/.test(m.name)) as Mutation;
    const server = await startProxy(never);
    try {
      const services = new Map([['gateway', gatewayService(server.url, { tls: true, retryWindowMs: 1500 })]]);
      const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'v1.push.retry', strict: true, services });
      const [r] = report.results;
      expect(r?.outcome).to.equal('skipped');
      expect(r?.skipCode).to.equal('retry-window');
      // Not judged: the verdict names it, and a gate fails on it unless the expectations file lists the case as skipped.
      expect(r?.skipCause).to.equal('target');
      expect(r?.skipReason).to.match(/^not judged: waited for 2 pokes for pushkey .*: 1 arrived \(at \+\d+ ms, answered 500\); no second came within 1500 ms.*, in a window shortened with --retry-window/);
      expect(r?.periods).to.deep.equal([{ step: 7, kind: 'window', ms: 1500, basis: 'set with --retry-window' }]);
      expect(isFailing(r as NonNullable<typeof r>, true)).to.equal(false);
    } finally {
      await server.close();
    }
  });

  it('announces a wait still running after a second, and its end; the cases that may wait longest start first', async function () {
    // The retry comes 3 s after the 500: its step waits well past the second after which a wait is shown.
    const gatewayAnswers: number[] = [];
    const late: Mutation = {
      name: 'retries 3 s after a 500',
      delivery: true,
      onPush: async (call) => {
        const answer = await call.forward();
        gatewayAnswers.push(answer.status);
        if (answer.status >= 500) await new Promise((r) => setTimeout(r, 3000));
        return answer;
      },
    };
    const server = await startProxy(late);
    const events: WaitEvent[] = [];
    try {
      const services = new Map([['gateway', gatewayService(server.url, { tls: true })]]);
      const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'v1.push', jobs: 1, strict: true, services, onWait: (e) => events.push(e) });
      expect(report.results.filter((r) => isFailing(r, true)).map((r) => r.id)).to.deep.equal([]);
      expect(report.results.find((r) => r.id === 'v1.push.retry-after-error')?.outcome).to.equal('passed');
      const retry = events.filter((e) => e.caseId === 'v1.push.retry-after-error');
      expect(retry.map((e) => [e.phase, e.step, e.maxMs])).to.deep.equal([
        ['start', 7, 65_000],
        ['end', 7, 65_000],
      ]);
      expect(retry[0]?.what).to.match(/^the poke to be sent again \(the default retry window; --retry-window shortens it\)$/);
      // About a second (a timer's clock may run a little behind performance.now()), and less than the whole wait.
      expect(retry[1]?.elapsedMs).to.be.greaterThan(retry[0]?.elapsedMs ?? Infinity);
      // One case at a time, the retry case first: the first poke of the run is its own, answered 500 (the
      // others start only once it waits, and need several requests before their first message).
      expect(gatewayAnswers[0]).to.equal(500);
    } finally {
      await server.close();
    }
  });

  it('shows a wait on the status line and as a line of the spec report', function () {
    const out: string[] = [];
    const reporter = terminalReporter.create({ strict: false, color: true, write: (t) => out.push(t) });
    const plan = { target: 'http://127.0.0.1:1', preflight: { versions: {}, advertised: ['v1.19'] }, editions: ['v1'], versions: { v1: { version: 'v1.19', from: 'advertised' } }, notServed: {}, cases: suite.cases.slice(0, 3), left: new Map() } as unknown as Plan;
    reporter.plan?.(plan);
    reporter.waiting?.({ phase: 'start', caseId: 'v1.push.retry-after-error', step: 7, what: 'the poke to be sent again', maxMs: 65_000, elapsedMs: 1000 });
    const text = out.join('');
    expect(text).to.include('wait v1.push.retry-after-error step 7: the poke to be sent again — up to 65 s');
    expect(text).to.match(/waiting \d\.\d s of up to 65 s: v1\.push\.retry-after-error step 7/);
    reporter.waiting?.({ phase: 'end', caseId: 'v1.push.retry-after-error', step: 7, what: 'the poke to be sent again', maxMs: 65_000, elapsedMs: 3000 });
    expect(out[out.length - 1]).not.to.include('waiting');
    reporter.finish({ meta: { strict: false, specVersions: {}, durationMs: 1 }, results: [] } as never);
  });

  it("gives the caller's signal one listener, however many cases wait at once (no MaxListenersExceededWarning)", async function () {
    const server = await startProxy({ name: 'the reference server', delivery: true });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      let added = 0;
      const add = controller.signal.addEventListener.bind(controller.signal);
      controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
        added++;
        add(...args);
      }) as typeof add;
      const services = new Map([['gateway', gatewayService(server.url, { tls: true, timeScale: TEST_TIME_SCALE })]]);
      const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'push', jobs: 32, services, signal: controller.signal });
      expect(report.results.filter((r) => r.periods !== undefined && r.periods.length > 0).length, 'cases that waited a quiet period').to.be.greaterThan(10);
      expect(added).to.equal(1);
      expect(getEventListeners(controller.signal, 'abort'), 'the listener is removed when the run ends').to.have.length(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).to.deep.equal([]);
    } finally {
      process.off('warning', onWarning);
      await server.close();
    }
  });
});

describe('job slots', function () {
  it('start new cases in order as slots free up; a case back from a wait goes on at once, and no new case starts until enough have ended', async function () {
    const slots = new Slots(1);
    const order: string[] = [];
    await slots.take();
    const b = slots.take().then(() => order.push('b'));
    const c = slots.take().then(() => order.push('c'));
    // a waits: its slot goes to b.
    slots.release();
    await b;
    // a is back (over the count), b ends: c still waits, until a ends too.
    slots.retake();
    slots.release();
    await Promise.resolve();
    expect(order).to.deep.equal(['b']);
    slots.release();
    await c;
    expect(order).to.deep.equal(['b', 'c']);
  });
});

describe('the kept suite', function () {
  it('is exactly what loading the case files gives, and is taken only while nothing it was made from changed', function () {
    const kept = keptSuite(KINDS);
    // Kept by `npm run build` (npm test runs it); a bare tsc leaves an older one, which a run does not take either.
    if (kept === undefined) this.skip();
    expect(isDeepStrictEqual(kept, readSuite({ kinds: KINDS }))).to.equal(true);
    const changed = { steps: { ...stepKinds, all: [...stepKinds.all, { name: 'extra', schema: {}, run: () => Promise.resolve({ requests: 0, waitedMs: 0 }) }] }, expects: expectKinds };
    expect(suiteFingerprint(changed)).not.to.equal(suiteFingerprint(KINDS));
    expect(keptSuite(changed)).to.equal(undefined);
  });
});
