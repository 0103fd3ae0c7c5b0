/**
 * The push rules area, proven both ways: each broken server of
 * support/pushrules-mutations.ts violates one requirement of spec/pushrules.md
 * and must fail exactly the push rules cases listed for it (by default for a
 * MUST, under --strict only for a SHOULD), citing only that requirement or a
 * listed consequence; each correct server that chooses differently where the
 * spec allows must pass with --strict, or, where it skips a SHOULD, pass the
 * default run and fail --strict on exactly its cases.
 *
 * Only the area's own cases run: these servers change nothing outside push
 * rules (their paths, and what rules do to notifications), and the other
 * areas' broken servers run the whole suite in broken-servers.test.ts.
 */
import { expect } from 'chai';
import { loadSuite, run } from '../src/kinds.js';
import { isFailing, type RunReport } from '../src/run/types.js';
import { loadSpec } from '../src/spec/requirements.js';
import { gatewayService } from '../src/areas/delivery/gateway/index.js';
import { ALLOWED_RULES, ALLOWED_RULES_AT_MUST, BROKEN_RULES } from './support/pushrules-mutations.js';
import { startProxy, type Mutation } from './support/proxy-server.js';
import { REQUEST_TIMEOUT_MS, runQueue, unjudged } from './support/run-queue.js';
import { TEST_TIME_SCALE } from './support/timing.js';

const spec = loadSpec();
const AREA = 'pushrules';
let suite: ReturnType<typeof loadSuite> | undefined;
const rulesSuite = (): ReturnType<typeof loadSuite> => {
  if (!suite) {
    const all = loadSuite();
    suite = { ...all, cases: all.cases.filter((c) => c.area === AREA) };
  }
  return suite;
};

/** Runs the push rules cases against the server; one that takes part in delivery is offered the mock gateway over TLS, on the tests' time scale. */
async function runAgainst(m: Mutation & { jobs?: number }, strict: boolean): Promise<RunReport> {
  const server = await startProxy(m);
  try {
    const services = m.delivery ? new Map([['gateway', gatewayService(server.url, { tls: true, timeScale: TEST_TIME_SCALE })]]) : undefined;
    return await run({ target: server.url, editions: ['v1'], suite: rulesSuite(), strict, jobs: m.jobs ?? 16, timeoutMs: REQUEST_TIMEOUT_MS, ...(services ? { services } : {}) });
  } finally {
    await server.close();
  }
}

const queue = runQueue(4);
const isShould = (m: { violates: string }): boolean => spec.requirements.get(m.violates)?.level === 'SHOULD';
const describeResult = (r: RunReport['results'][number]): string => `${r.id}: ${r.failures.concat(r.warnings).map((f) => `${f.level} ${f.requirement}: ${f.message}`).join('; ')}${r.error ? r.error.message : ''}`;

describe('push rules against broken and correct servers', function () {
  // Each test awaits its own run, which may still wait in the queue behind others.
  this.timeout(300_000);
  before(function () {
    // Delivery servers first: their runs wait longest.
    const runs: Array<[string, boolean, () => Promise<RunReport>]> = [
      ...BROKEN_RULES.map((m, i): [string, boolean, () => Promise<RunReport>] => [`broken ${i}`, m.delivery === true, () => runAgainst(m, isShould(m))]),
      ...ALLOWED_RULES.map((m, i): [string, boolean, () => Promise<RunReport>] => [`allowed ${i}`, m.delivery === true, () => runAgainst(m, true)]),
      ...ALLOWED_RULES_AT_MUST.map((m, i): [string, boolean, () => Promise<RunReport>] => [`at-must ${i}`, m.delivery === true, () => runAgainst(m, false)]),
    ];
    for (const [key, , start] of runs.sort((a, b) => Number(b[1]) - Number(a[1]))) queue.schedule(key, start);
    queue.start();
  });

  describe('broken servers, each caught', function () {
    for (const [i, m] of BROKEN_RULES.entries()) {
      const level = spec.requirements.get(m.violates)?.level;
      it(`${m.violates} (${level ?? '?'}) — ${m.name}`, async function () {
        expect(level, `${m.violates} is a requirement`).to.be.oneOf(['MUST', 'SHOULD']);
        const known = new Set(rulesSuite().cases.map((c) => c.id));
        expect(m.fails.filter((id) => !known.has(id)), 'listed cases that are not push rules cases').to.deep.equal([]);
        const should = level === 'SHOULD';
        const report = await queue.report(`broken ${i}`);
        if (should) expect(report.results.filter((r) => isFailing(r, false)).map(describeResult), 'cases failing the default run').to.deep.equal([]);
        const failing = report.results.filter((r) => isFailing(r, should));
        const unexpected = failing.filter((r) => !m.fails.includes(r.id)).map(describeResult).join('\n');
        expect(failing.map((r) => r.id).sort(), `${should ? 'cases failing under --strict' : 'failing cases'}${unexpected ? `; not listed:\n${unexpected}` : ''}`).to.deep.equal([...m.fails].sort());
        const allowed = new Set([m.violates, ...(m.alsoCites ?? [])]);
        const problems = (r: RunReport['results'][number]) => (should ? r.warnings : r.failures);
        expect(failing.some((r) => problems(r).some((f) => f.requirement === m.violates)), `some case fails citing ${m.violates}`).to.equal(true);
        for (const r of failing) {
          expect(r.outcome, `${r.id} fails on a check, not an error: ${describeResult(r)}`).to.equal(should ? 'warned' : 'failed');
          expect(problems(r).map((f) => f.requirement).filter((id) => !allowed.has(id)), `${r.id} cites only the violated requirement (or a listed consequence)`).to.deep.equal([]);
        }
      });
    }
  });

  describe('correct servers that choose differently pass', function () {
    for (const [i, m] of ALLOWED_RULES.entries()) {
      it(m.name, async function () {
        const report = await queue.report(`allowed ${i}`);
        expect(report.results.filter((r) => isFailing(r, true)).map(describeResult)).to.deep.equal([]);
        expect(unjudged(report, m), 'cases left not judged for a reason of the target').to.deep.equal([]);
      });
    }
    for (const [i, m] of ALLOWED_RULES_AT_MUST.entries()) {
      it(`${m.skips.join(', ')} — ${m.name}`, async function () {
        const report = await queue.report(`at-must ${i}`);
        expect(report.results.filter((r) => isFailing(r, false)).map(describeResult)).to.deep.equal([]);
        expect(unjudged(report, m), 'cases left not judged for a reason of the target').to.deep.equal([]);
        const strict = report.results.filter((r) => isFailing(r, true));
        expect(strict.map((r) => r.id).sort(), 'cases failing under --strict').to.deep.equal([...m.failsStrict].sort());
        for (const r of strict) expect(r.warnings.map((w) => w.requirement).filter((id) => !m.skips.includes(id)), `${r.id} warns only of ${m.skips.join(', ')}`).to.deep.equal([]);
      });
    }
  });
});

describe('push rules: every requirement has a server that breaks it', function () {
  const ids = [...spec.requirements.values()].filter((r) => r.area === AREA);

  it('every MUST requirement has a broken server', function () {
    const covered = new Set(BROKEN_RULES.map((b) => b.violates));
    expect(ids.filter((r) => r.level === 'MUST' && !covered.has(r.id)).map((r) => r.id)).to.deep.equal([]);
  });

  it('every SHOULD requirement has a broken server, or a correct one that does not follow it', function () {
    const covered = new Set([...BROKEN_RULES.map((b) => b.violates), ...ALLOWED_RULES_AT_MUST.flatMap((m) => m.skips)]);
    expect(ids.filter((r) => r.level === 'SHOULD' && !covered.has(r.id)).map((r) => r.id)).to.deep.equal([]);
  });
});
