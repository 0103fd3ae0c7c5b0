/**
 * The suite's power, proven: each broken server violates one requirement and
 * must make the run fail on exactly the cases listed for it; each correct
 * server that chooses differently where the spec allows must pass, strictly.
 */
import { expect } from 'chai';
import { loadSuite } from '../src/cases/load.js';
import { run } from '../src/run/runner.js';
import { isFailing, type RunReport } from '../src/run/types.js';
import { loadSpec } from '../src/spec/requirements.js';
import { ALLOWED, ALLOWED_AT_MUST, BROKEN } from './support/mutations.js';
import { startProxy, type Mutation } from './support/proxy-server.js';

const spec = loadSpec();
let suite: ReturnType<typeof loadSuite> | undefined;

async function runAgainst(m: Mutation, strict: boolean): Promise<RunReport> {
  const server = await startProxy(m);
  try {
    suite ??= loadSuite();
    return await run({ target: server.url, editions: ['v1', 'draft'], suite, strict, jobs: 8, timeoutMs: 5000 });
  } finally {
    await server.close();
  }
}

describe('broken servers: each violation is caught', function () {
  this.timeout(60_000);
  for (const m of BROKEN) {
    it(`${m.violates} — ${m.name}`, async function () {
      expect(spec.requirements.get(m.violates)?.level, `${m.violates} is a MUST requirement`).to.equal('MUST');
      const report = await runAgainst(m, false);
      const failing = report.results.filter((r) => isFailing(r, false));
      expect(failing.map((r) => r.id).sort(), 'failing cases').to.deep.equal([...m.fails].sort());
      expect(failing.length, 'the run fails').to.be.greaterThan(0);
      expect(failing.some((r) => r.failures.some((f) => f.requirement === m.violates)), `some case fails citing ${m.violates}`).to.equal(true);
      const allowed = new Set([m.violates, ...(m.alsoCites ?? [])]);
      for (const r of failing) {
        expect(r.outcome, `${r.id} fails on a check, not an error`).to.equal('failed');
        const cited = r.failures.map((f) => f.requirement);
        expect(cited.filter((id) => !allowed.has(id)), `${r.id} cites only the violated requirement (or a listed consequence)`).to.deep.equal([]);
      }
    });
  }
});

describe('every MUST requirement has a broken server', function () {
  it('lists one for each', function () {
    const must = [...spec.requirements.values()].filter((r) => r.level === 'MUST').map((r) => r.id);
    const covered = new Set(BROKEN.map((b) => b.violates));
    expect(must.filter((id) => !covered.has(id)), 'MUST requirements without a broken server').to.deep.equal([]);
  });
});

describe('correct servers that choose differently pass', function () {
  this.timeout(60_000);
  for (const m of ALLOWED) {
    it(m.name, async function () {
      const report = await runAgainst(m, true);
      const failing = report.results.filter((r) => isFailing(r, true));
      expect(failing.map((r) => `${r.id}: ${r.failures.concat(r.warnings).map((f) => f.message).join('; ')}${r.error ? r.error.message : ''}`)).to.deep.equal([]);
    });
  }
});

describe('correct servers that skip a SHOULD pass the default run', function () {
  this.timeout(60_000);
  for (const m of ALLOWED_AT_MUST) {
    it(m.name, async function () {
      const report = await runAgainst(m, false);
      const failing = report.results.filter((r) => isFailing(r, false));
      expect(failing.map((r) => `${r.id}: ${r.failures.map((f) => f.message).join('; ')}${r.error ? r.error.message : ''}`)).to.deep.equal([]);
      const strict = report.results.filter((r) => isFailing(r, true));
      expect(strict.map((r) => r.id).sort(), 'cases failing under --strict').to.deep.equal([...m.failsStrict].sort());
      for (const r of strict) expect(r.warnings.length, `${r.id} fails under --strict only through SHOULD warnings`).to.be.greaterThan(0);
    });
  }
});
