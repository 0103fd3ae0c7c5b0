/**
 * The suite's power, proven: each broken server violates one requirement and
 * must make the run fail on exactly the cases listed for it (by default for a
 * MUST, under --strict only for a SHOULD); each correct server that chooses
 * differently where the spec allows must pass, strictly, or, where it skips a
 * SHOULD, pass the default run and fail --strict on exactly its cases.
 */
import { expect } from 'chai';
import { loadSuite, run } from '../src/kinds.js';
import { isFailing, type RunReport } from '../src/run/types.js';
import { loadSpec } from '../src/spec/requirements.js';
import { gatewayService } from '../src/areas/delivery/gateway/index.js';
import { ALLOWED_DELIVERY, BROKEN_DELIVERY, NO_ROOMS } from './support/delivery-mutations.js';
import { ALLOWED as ALLOWED_API, ALLOWED_AT_MUST, BROKEN as BROKEN_API, V1_5_SERVER } from './support/mutations.js';
import { ALLOWED_RULES_AT_MUST, BROKEN_RULES } from './support/pushrules-mutations.js';
import { startProxy, type Mutation } from './support/proxy-server.js';
import { REQUEST_TIMEOUT_MS, runQueue, unjudged } from './support/run-queue.js';
import { TEST_TIME_SCALE } from './support/timing.js';

const spec = loadSpec();
let suite: ReturnType<typeof loadSuite> | undefined;
const cases = (): ReturnType<typeof loadSuite> => (suite ??= loadSuite());
const BROKEN = [...BROKEN_API, ...BROKEN_DELIVERY];
const ALLOWED = [...ALLOWED_API, ...ALLOWED_DELIVERY];

/**
 * Runs both editions against the server. A server whose mutation takes part in
 * push delivery is offered the mock gateway (over TLS, as the bundled server
 * wants it), on the tests' time scale (a poke's timeout and the retry window
 * 2.5 times shorter); the others are not, and their delivery cases are
 * skipped. Delivery runs take 16 cases at once (the CLI's default).
 */
async function runAgainst(m: Mutation & { jobs?: number }, strict: boolean, gateway: { tls: boolean } | undefined = m.delivery ? { tls: true } : undefined): Promise<RunReport> {
  const server = await startProxy(m);
  try {
    const services = gateway ? new Map([['gateway', gatewayService(server.url, { ...gateway, timeScale: TEST_TIME_SCALE })]]) : undefined;
    return await run({ target: server.url, editions: ['v1', 'draft'], suite: cases(), strict, jobs: m.jobs ?? (m.delivery ? 16 : 8), timeoutMs: REQUEST_TIMEOUT_MS, ...(services ? { services } : {}) });
  } finally {
    await server.close();
  }
}

/**
 * The runs of this file, started together in the first before() and awaited
 * by each test, RUNS_AT_ONCE of them overlapping. Those that wait longest
 * (delivery servers) start first.
 */
const RUNS_AT_ONCE = 4;
const queue = runQueue(RUNS_AT_ONCE);

const scheduledReport = (key: string): Promise<RunReport> => queue.report(key);

const describeResult = (r: RunReport['results'][number]): string => `${r.id}: ${r.failures.concat(r.warnings).map((f) => `${f.level} ${f.requirement}: ${f.message}`).join('; ')}${r.error ? r.error.message : ''}`;

const isShould = (m: { violates: string }): boolean => spec.requirements.get(m.violates)?.level === 'SHOULD';

/** Every run of this file, those that wait longest first: servers that never retry, then the other delivery servers. */
function scheduleAll(): void {
  const runs: Array<[string, number, () => Promise<RunReport>]> = [
    ...BROKEN.map((m, i): [string, number, () => Promise<RunReport>] => [`broken ${i}`, m.violates === 'v1.push.retry' ? 0 : m.delivery ? 1 : 3, () => runAgainst(m, isShould(m))]),
    ...ALLOWED.map((m, i): [string, number, () => Promise<RunReport>] => [`allowed ${i}`, m.delivery ? 2 : 3, () => runAgainst(m, true)]),
    ...ALLOWED_AT_MUST.map((m, i): [string, number, () => Promise<RunReport>] => [`at-must ${i}`, 3, () => runAgainst(m, false)]),
    ['v1.5', 3, () => runAgainst(V1_5_SERVER, true)],
    ['no rooms', 2, () => runAgainst(NO_ROOMS, true)],
    ['http gateway', 2, () => runAgainst({ name: 'the reference server, trusting any certificate', delivery: true }, true, { tls: false })],
    ['untrusted gateway', 2, () => runAgainst({ name: 'the reference server, verifying certificates' }, true, { tls: false })],
    ['no gateway', 3, () => runAgainst({ name: 'the reference server' }, true, undefined)],
  ];
  for (const [key, , start] of runs.sort((a, b) => a[1] - b[1])) queue.schedule(key, start);
  queue.start();
}

describe('the suite against broken and correct servers', function () {
  // Each test awaits its own run, which may still wait in the queue behind others.
  this.timeout(300_000);
  before(scheduleAll);

describe('broken servers: each violation is caught', function () {
  for (const [i, m] of BROKEN.entries()) {
    const level = spec.requirements.get(m.violates)?.level;
    it(`${m.violates} (${level ?? '?'}) — ${m.name}`, async function () {
      expect(level, `${m.violates} is a requirement of spec/pushers.md`).to.be.oneOf(['MUST', 'SHOULD']);
      const known = new Set(cases().cases.map((c) => c.id));
      expect(m.fails.filter((id) => !known.has(id)), 'listed cases that are not in the suite').to.deep.equal([]);
      const should = level === 'SHOULD';
      const report = await scheduledReport(`broken ${i}`);
      const allowed = new Set([m.violates, ...(m.alsoCites ?? [])]);
      if (should) {
        // A SHOULD violation is not a failure by default: the default run passes, with warnings.
        expect(report.results.filter((r) => isFailing(r, false)).map(describeResult), 'cases failing the default run').to.deep.equal([]);
      }
      const failing = report.results.filter((r) => isFailing(r, should));
      const unexpected = failing.filter((r) => !m.fails.includes(r.id)).map(describeResult).join('\n');
      expect(failing.map((r) => r.id).sort(), `${should ? 'cases failing under --strict' : 'failing cases'}${unexpected ? `; not listed:\n${unexpected}` : ''}`).to.deep.equal([...m.fails].sort());
      expect(failing.length, 'the run fails').to.be.greaterThan(0);
      const problems = (r: RunReport['results'][number]) => (should ? r.warnings : r.failures);
      expect(failing.some((r) => problems(r).some((f) => f.requirement === m.violates)), `some case fails citing ${m.violates}`).to.equal(true);
      for (const r of failing) {
        expect(r.outcome, `${r.id} fails on a check, not an error`).to.equal(should ? 'warned' : 'failed');
        const cited = problems(r).map((f) => f.requirement);
        expect(cited.filter((id) => !allowed.has(id)), `${r.id} cites only the violated requirement (or a listed consequence)`).to.deep.equal([]);
      }
    });
  }
});

/** The requirements some case's expectations check, with the level of each. */
function checkedRequirements(): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of cases().cases) {
    for (const step of c.steps) {
      for (const e of step.expect) out.set(e.requirement, spec.requirements.get(e.requirement)?.level ?? '?');
    }
  }
  return out;
}

describe('every requirement has a server that breaks it', function () {
  it('every MUST requirement has a broken server', function () {
    const must = [...spec.requirements.values()].filter((r) => r.level === 'MUST').map((r) => r.id);
    // Push rules' broken servers run in pushrules-servers.test.ts.
    const covered = new Set([...BROKEN, ...BROKEN_RULES].map((b) => b.violates));
    expect(must.filter((id) => !covered.has(id)), 'MUST requirements without a broken server').to.deep.equal([]);
  });

  // A SHOULD that every maintained reading may skip (a lenient JSON parser, append read as false, 404 for a missing pusher)
  // is shown by a correct server of ALLOWED_AT_MUST; the others by a broken server.
  it('every SHOULD requirement a case checks has a broken server, or a correct one that does not follow it', function () {
    const should = [...checkedRequirements()].filter(([, level]) => level === 'SHOULD').map(([id]) => id);
    const covered = new Set([...BROKEN, ...BROKEN_RULES].map((b) => b.violates).concat([...ALLOWED_AT_MUST, ...ALLOWED_RULES_AT_MUST].flatMap((m) => m.skips)));
    expect(should.filter((id) => !covered.has(id)).sort(), 'SHOULD requirements no server breaks').to.deep.equal([]);
  });
});

describe('correct servers that choose differently pass', function () {
  for (const [i, m] of ALLOWED.entries()) {
    it(m.name, async function () {
      const report = await scheduledReport(`allowed ${i}`);
      const failing = report.results.filter((r) => isFailing(r, true));
      expect(failing.map(describeResult)).to.deep.equal([]);
      expect(unjudged(report, m), 'cases left not judged for a reason of the target').to.deep.equal([]);
    });
  }

  it('the v1.5 server is judged by v1.5: the cases of rules from v1.6 and v1.12 on are skipped for the version', async function () {
    const report = await scheduledReport('v1.5');
    expect(report.meta.specVersions['v1']?.version).to.equal('v1.5');
    const skipped = new Map(report.results.filter((r) => r.outcome === 'skipped').map((r) => [r.id, r.skipCode]));
    for (const id of ['v1.delete.removes-pusher', 'v1.append.true-keeps', 'v1.set.http-url-wrong-path']) {
      expect(skipped.get(id), `${id} is skipped for the version`).to.equal('version');
    }
    expect(report.results.find((r) => r.id === 'v1.delete.other-users-pusher')?.outcome, 'a rule of every version still runs').to.equal('passed');
  });
});

describe('servers that cannot take part in push delivery', function () {
  // The delivery cases the run judges: those of rules that hold only in older versions are skipped for the version first.
  const delivery = (report: RunReport): string[] => {
    const forVersion = new Set(report.results.filter((r) => r.skipCode === 'version').map((r) => r.id));
    return cases().cases.filter((c) => c.tags.includes('delivery') && !forVersion.has(c.id)).map((c) => c.id).sort();
  };

  it('a server with no rooms at all: every delivery case is skipped because rooms cannot be created, and the run passes on the pushers API alone', async function () {
    const report = await scheduledReport('no rooms');
    expect(report.results.filter((r) => isFailing(r, true)).map(describeResult)).to.deep.equal([]);
    const skipped = report.results.filter((r) => r.outcome === 'skipped' && r.skipCode === 'target');
    expect(skipped.map((r) => r.id).sort()).to.deep.equal(delivery(report));
    for (const r of skipped) expect(r.skipReason).to.match(/^the target cannot create rooms, so no event can be pushed \(step \d+ .* answered 404 M_UNRECOGNIZED\)$/);
    expect(report.results.filter((r) => r.outcome === 'passed').length, 'the pushers cases still run').to.be.greaterThan(50);
  });

  it('a server that refuses http:// gateways, offered a plain HTTP gateway: the pusher is set again at the gateway over HTTPS, and every delivery case is judged', async function () {
    // The bundled server follows the spec (a pusher's URL MUST be HTTPS) and refuses the gateway's http:// URL with 400.
    const report = await scheduledReport('http gateway');
    expect(report.results.filter((r) => isFailing(r, true)).map(describeResult)).to.deep.equal([]);
    const judged = report.results.filter((r) => r.tags.includes('delivery') && r.outcome === 'passed');
    expect(judged.map((r) => r.id).sort()).to.deep.equal(delivery(report));
  });

  it('a server that does not trust the run\u2019s certificate: every delivery case that waits for a poke is skipped, not failed, with what to set', async function () {
    // Offered HTTPS after refusing http://, the bundled server verifies the gateway's certificate and ends each handshake.
    const report = await scheduledReport('untrusted gateway');
    expect(report.results.filter((r) => isFailing(r, true)).map(describeResult)).to.deep.equal([]);
    const skipped = report.results.filter((r) => r.outcome === 'skipped' && r.skipCode === 'gateway-tls');
    // The cases about NaN and 1e400 in a pusher's data end with their verdict when the server refuses those values: no poke is awaited.
    const endedBeforeAPoke = ['v1.push.data-nan', 'v1.push.data-out-of-range'];
    expect(report.results.filter((r) => endedBeforeAPoke.includes(r.id)).map((r) => r.outcome)).to.deep.equal(['passed', 'passed']);
    expect(skipped.map((r) => r.id).sort()).to.deep.equal(delivery(report).filter((id) => !endedBeforeAPoke.includes(id)));
    for (const r of skipped) {
      expect(r.skipCause).to.equal('target');
      expect(r.skipReason).to.match(/TLS handshake .*does not trust the run's certificate.*--gateway-cert and --gateway-key/);
    }
  });

  it('a run offered no gateway skips every delivery case with the reason, and they are the only ones skipped', async function () {
    const report = await scheduledReport('no gateway');
    const skipped = report.results.filter((r) => r.outcome === 'skipped' && r.skipCode !== 'version');
    expect(skipped.map((r) => r.id).sort()).to.deep.equal(delivery(report));
    for (const r of skipped) expect(r.skipCode).to.equal('needs-gateway');
  });
});

describe('correct servers that skip a SHOULD pass the default run', function () {
  for (const [i, m] of ALLOWED_AT_MUST.entries()) {
    it(`${m.skips.join(', ')} — ${m.name}`, async function () {
      for (const id of m.skips) expect(spec.requirements.get(id)?.level, `${id} is a SHOULD requirement`).to.equal('SHOULD');
      const report = await scheduledReport(`at-must ${i}`);
      const failing = report.results.filter((r) => isFailing(r, false));
      expect(failing.map(describeResult)).to.deep.equal([]);
      expect(unjudged(report, m), 'cases left not judged for a reason of the target').to.deep.equal([]);
      const strict = report.results.filter((r) => isFailing(r, true));
      expect(strict.map((r) => r.id).sort(), 'cases failing under --strict').to.deep.equal([...m.failsStrict].sort());
      for (const r of strict) {
        expect(r.warnings.length, `${r.id} fails under --strict only through SHOULD warnings`).to.be.greaterThan(0);
        expect(r.warnings.map((w) => w.requirement).filter((id) => !m.skips.includes(id)), `${r.id} warns only of ${m.skips.join(', ')}`).to.deep.equal([]);
      }
    });
  }
});
});
