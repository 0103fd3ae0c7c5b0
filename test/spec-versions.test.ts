/**
 * The version a target is judged by changes the verdict, at each boundary of
 * the requirement model (spec/pushers.md: since / until): one server, run at
 * the version below a boundary and at the boundary itself, passes on one side
 * and fails on the other. Also: a version newer than any the suite models is
 * judged by the newest it models, and --spec-version is honoured.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { loadSuite, run, type RunOptions } from '../src/kinds.js';
import { specDir } from '../src/paths.js';
import { isFailing, type RunReport } from '../src/run/types.js';
import { advertising, combine, refuseMinimalDelete, replaceOnAppend, urlAnyPath, versionsUpTo } from './support/mutations.js';
import { startProxy, type Mutation } from './support/proxy-server.js';

let suite: ReturnType<typeof loadSuite> | undefined;

async function runAgainst(m: Mutation, options: Partial<RunOptions> = {}): Promise<RunReport> {
  const server = await startProxy(m);
  try {
    suite ??= loadSuite();
    return await run({ target: server.url, editions: ['v1'], suite, jobs: 8, timeoutMs: 5000, ...options });
  } finally {
    await server.close();
  }
}

/** The ids of the cases failing the run, by default or under --strict. */
const failingIds = (report: RunReport, strict: boolean): string[] => report.results.filter((r) => isFailing(r, strict)).map((r) => r.id).sort();
const judgedBy = (report: RunReport): string | undefined => report.meta.specVersions['v1']?.version;
const newestModelled = (): string => {
  const versions = (parse(readFileSync(join(specDir, 'editions.yaml'), 'utf8')) as { v1: { versions: string[] } }).v1.versions;
  return versions[versions.length - 1] as string;
};

interface Boundary {
  /** The version from which the rule changes. */
  at: string;
  below: string;
  server: Mutation;
  strict: boolean;
  /** The cases failing at `below` and at `at`. */
  failsBelow: string[];
  failsAt: string[];
}

const BOUNDARIES: Boundary[] = [
  {
    at: 'v1.6',
    below: 'v1.5',
    server: combine('a delete with only kind, app_id and pushkey is refused (400 M_MISSING_PARAM)', refuseMinimalDelete),
    strict: false,
    failsBelow: [],
    failsAt: ['v1.delete.removes-pusher'],
  },
  {
    at: 'v1.12',
    below: 'v1.11',
    server: combine('append true replaces another user\'s pusher with the same app_id and pushkey', replaceOnAppend),
    strict: true,
    failsBelow: [],
    failsAt: ['v1.append.true-keeps'],
  },
  {
    at: 'v1.13',
    below: 'v1.12',
    server: combine('any https data.url is accepted, whatever its path', urlAnyPath),
    strict: true,
    failsBelow: [],
    failsAt: ['v1.set.http-url-wrong-path'],
  },
];

describe('spec versions: the verdict changes at each boundary of the model', function () {
  this.timeout(60_000);
  for (const b of BOUNDARIES) {
    it(`${b.at}: ${b.server.name} — ${b.below} ${b.failsBelow.length ? 'fails' : 'passes'}, ${b.at} ${b.failsAt.length ? 'fails' : 'passes'}${b.strict ? ' (--strict)' : ''}`, async function () {
      const below = await runAgainst(b.server, { specVersion: b.below, strict: b.strict });
      const at = await runAgainst(b.server, { specVersion: b.at, strict: b.strict });
      expect(judgedBy(below)).to.equal(b.below);
      expect(judgedBy(at)).to.equal(b.at);
      expect(failingIds(below, b.strict), `cases failing at ${b.below}`).to.deep.equal(b.failsBelow);
      expect(failingIds(at, b.strict), `cases failing at ${b.at}`).to.deep.equal(b.failsAt);
      // The case that makes the difference is skipped for the version on the side where its rule does not hold.
      const decisive = [...b.failsBelow, ...b.failsAt];
      const passingSide = b.failsAt.length ? below : at;
      for (const id of decisive) {
        const r = passingSide.results.find((x) => x.id === id);
        expect(r?.outcome, `${id} on the passing side`).to.equal('skipped');
        expect(r?.skipCode, `${id} is skipped for the version`).to.equal('version');
      }
    });
  }

  it('through GET /_matrix/client/versions: a target advertising up to v1.12 is judged by v1.12, and the cases of later rules are skipped for the version', async function () {
    const report = await runAgainst(combine('advertises up to v1.12', { onRequest: advertising(versionsUpTo('v1.12')) }), { strict: true });
    expect(judgedBy(report)).to.equal('v1.12');
    expect(report.meta.specVersions['v1']?.from).to.equal('advertised');
    expect(report.results.find((r) => r.id === 'v1.set.http-url-wrong-path')?.skipCode).to.equal('version');
    expect(failingIds(report, true)).to.deep.equal([]);
  });
});

describe('spec versions: which version a target is judged by', function () {
  this.timeout(60_000);

  it('a target advertising a newer version than any modelled (v1.42) is judged by the newest modelled, with a note', async function () {
    const report = await runAgainst(combine('advertises v1.42', { onRequest: advertising([...versionsUpTo(newestModelled()), 'v1.42']) }), { strict: true });
    const choice = report.meta.specVersions['v1'];
    expect(choice?.version).to.equal(newestModelled());
    expect(choice?.from).to.equal('advertised');
    expect(choice?.asked).to.equal('v1.42');
    expect(choice?.note ?? '', 'the note names the version asked and the one judged').to.include('v1.42').and.include(newestModelled());
    expect(failingIds(report, true), 'the reference server passes').to.deep.equal([]);
  });

  it('specVersion v1.3 is honoured: the run is judged by v1.3 and cases of later rules are skipped for the version', async function () {
    const report = await runAgainst(combine('the reference server'), { specVersion: 'v1.3', strict: true });
    const choice = report.meta.specVersions['v1'];
    expect(choice?.version).to.equal('v1.3');
    expect(choice?.from).to.equal('flag');
    expect(choice?.note, 'a modelled version needs no note').to.equal(undefined);
    const skipped = new Map(report.results.filter((r) => r.outcome === 'skipped').map((r) => [r.id, r.skipCode]));
    for (const id of ['v1.delete.removes-pusher', 'v1.append.true-keeps', 'v1.set.http-url-wrong-path']) expect(skipped.get(id), id).to.equal('version');
    for (const id of ['v1.set.format-other-string', 'v1.delete.other-users-pusher']) expect(report.results.find((r) => r.id === id)?.outcome, `${id}, a rule of every version, runs`).to.equal('passed');
    expect(failingIds(report, true), 'the reference server passes').to.deep.equal([]);
  });
});
