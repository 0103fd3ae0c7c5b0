/**
 * The reports people and machines read, as the CLI writes them: JUnit valid
 * against the structure of the xunit plugin's junit-10.xsd, TAP 13 that
 * nothing the target sends can forge a line of, JSON valid against
 * spec/report.schema.json with every case's result, and hostile text from
 * the target through every reporter (spec, json, junit, tap, html) without a
 * raw control character reaching a terminal or breaking XML. Then the CLI's
 * own surface: help, version, usage errors, and paths checked before any
 * request.
 *
 * The runs are independent, so they all start in before(), a few at a time
 * (the machine has two cores), each selecting a handful of cases with --grep;
 * each test then judges the runs it names.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSuite, selectCases } from '../src/index.js';
import { SCRIPT_HASH } from '../src/report/html.js';
import { ASTRAL, ASTRAL_SERVER, BROKEN_ASTRAL, FLAKY, HOSTILE, HOSTILE_HEADER, HOSTILE_SERVER, MIXED, MIXED_EXPECTATIONS, NEVER_LISTS } from './support/report-servers.js';
import { startMisbehaving, type MisbehavingServer } from './support/misbehaving-server.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { allReporters, checkJsonReport, cliPool, JUNIT_XSD, expectNoRawControls, expectValidJunit, hasLoneSurrogate, needXmllint, parseTap, RAW_CONTROL, readJsonReport, readJunit, runCli, utf8, xmllint, type JsonReport, type JsonResult, type Ran } from './support/reports.js';

interface Run extends Ran {
  name: string;
  dir: string;
  args: string[];
}

const SUITE = loadSuite();
const idsOf = (edition: string, grep: string): string[] => selectCases(SUITE, [edition], grep).map((c) => c.id);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const SPEC_LINK = /^https:\/\/spec\.matrix\.org\/(v1\.\d+|unstable|latest)\/[a-z-]+\/#[a-z0-9_-]+$/;
/** Characters XML 1.0 allows, as code points. */
const XML_CHAR = /^[\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]*$/u;
/** A \uD800–\uDFFF escape written out: half of a pair cut off and then escaped. */
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

const isCounted = (r: JsonResult, strict: boolean): boolean => r.outcome === 'failed' || r.outcome === 'errored' || r.outcome === 'xpassed' || (strict && r.outcome === 'warned');

describe('reporters, as the CLI writes them', function () {
  this.timeout(240_000);
  const root = mkdtempSync(join(tmpdir(), 'conformance-reporters-'));
  const runs = new Map<string, Run>();
  const servers: Array<ProxyServer | MisbehavingServer> = [];
  const run = (name: string): Run => {
    const r = runs.get(name);
    if (!r) throw new Error(`no run ${name}`);
    return r;
  };
  const file = (name: string, ext: 'json' | 'xml' | 'tap' | 'html'): string => join(run(name).dir, `r.${ext}`);
  const text = (name: string, ext: 'json' | 'xml' | 'tap' | 'html'): string => readFileSync(file(name, ext), 'utf8');
  const report = (name: string): JsonReport => readJsonReport(file(name, 'json'));

  before(async function () {
    const [brokenAstral, hostile, astral, never, mixed, flaky] = await Promise.all([BROKEN_ASTRAL, HOSTILE_SERVER, ASTRAL_SERVER, NEVER_LISTS, MIXED, FLAKY].map((m) => startProxy(m)));
    const misbehaving = await startMisbehaving({ at: 'pushers', mode: 'status', statuses: [500, 503] });
    servers.push(brokenAstral as ProxyServer, hostile as ProxyServer, astral as ProxyServer, never as ProxyServer, mixed as ProxyServer, flaky as ProxyServer, misbehaving);
    const expectations = join(root, 'mixed-expectations.yaml');
    writeFileSync(expectations, MIXED_EXPECTATIONS);
    const plan: Array<[string, string[], string?]> = [
      // An honest run against the bundled reference server: the astral-character cases pass.
      ['reference', ['--edition', 'v1', '--grep', 'outside']],
      // The same cases against a broken server: two of them fail, their exchanges full of astral characters.
      ['broken', ['--target', (brokenAstral as ProxyServer).url, '--edition', 'v1', '--grep', 'outside']],
      ['mixed', ['--target', (mixed as ProxyServer).url, '--strict', '--spec-version', 'v1.1', '--edition', 'v1', '--grep', 'delete', '--expectations', expectations]],
      ['never-lists', ['--target', (never as ProxyServer).url, '--edition', 'v1', '--grep', 'v1.get']],
      ['misbehaving', ['--target', misbehaving.url, '--timeout', '2000', '--edition', 'v1', '--grep', 'v1.set.missing']],
      ['repeat', ['--target', (flaky as ProxyServer).url, '--repeat', '2', '--edition', 'v1', '--grep', 'v1.set.valid-pusher']],
      ['astral', ['--target', (astral as ProxyServer).url, '--edition', 'v1', '--grep', 'v1.set.valid-pusher']],
      // Hostile text, each reporter in turn on stdout (the others to files).
      ...(['spec', 'json', 'junit', 'tap', 'html'] as const).map((r): [string, string[], string] => [`hostile-${r}`, ['--target', (hostile as ProxyServer).url, '--edition', 'v1', '--grep', 'create'], r]),
    ];
    const pool = cliPool(3);
    await Promise.all(
      plan.map(async ([name, args, stdout]) => {
        const dir = mkdtempSync(join(root, `${name}-`));
        const all = [...args, ...allReporters(dir, stdout ?? 'spec')];
        const ran = await pool(all);
        runs.set(name, { ...ran, name, dir, args: all });
      }),
    );
  });

  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  });

  const FILE_RUNS = ['reference', 'broken', 'mixed', 'never-lists', 'misbehaving', 'repeat', 'astral', 'hostile-spec'];

  it('every run ended by itself, with the exit code its results call for', function () {
    const expected: Record<string, number> = { reference: 0, broken: 1, mixed: 1, 'never-lists': 1, misbehaving: 1, repeat: 1, astral: 1 };
    for (const [name, r] of runs) {
      expect(r.signal, `${name} was killed`).to.equal(null);
      expect(r.code, `${name}: ${r.stderr}`).to.equal(expected[name] ?? 1);
      expect(r.stderr, `${name}: no stack trace`).to.not.match(/internal error|\n\s+at /);
    }
  });

  describe('junit', function () {
    it('every JUnit file validates against junit-10.xsd', function () {
      needXmllint(this);
      for (const name of [...FILE_RUNS, 'hostile-json']) expectValidJunit(file(name, 'xml'));
      const stdout = run('hostile-junit').stdout;
      const f = join(root, 'stdout.xml');
      writeFileSync(f, stdout);
      expectValidJunit(f);
    });

    it('the schema check can fail: a testsuite without tests, a time that is no number, an unknown element are refused', function () {
      needXmllint(this);
      const xml = text('broken', 'xml');
      const variants = [xml.replace(/(<testsuite [^>]*?) tests="\d+"/, '$1'), xml.replace(/(<testsuite [^>]*?time=")[0-9.]+"/, '$1about a second"'), xml.replace('<properties>', '<properties><verdict/>'), xml.replace(/<testcase name="[^"]*"/, '<testcase')];
      variants.forEach((v, i) => {
        expect(v, `variant ${i} changed something`).to.not.equal(xml);
        const f = join(root, `invalid-${i}.xml`);
        writeFileSync(f, v);
        expect(xmllint(f, { schema: JUNIT_XSD }).ok, `variant ${i} is refused`).to.equal(false);
      });
    });

    it('only XML 1.0 characters; counts match the elements; timestamps are ISO 8601; one testcase per case, named by its id alone', function () {
      for (const name of [...FILE_RUNS, 'hostile-json']) {
        const xml = text(name, 'xml');
        expect(XML_CHAR.test(xml), `${name}: a character XML 1.0 does not allow`).to.equal(true);
        expect(xml, `${name}: no character reference (every character is written as itself or escaped as text)`).to.not.match(/&#/);
      }
      for (const name of FILE_RUNS) {
        const { root: top, suites } = readJunit(text(name, 'xml'));
        const r = report(name);
        let totals = { tests: 0, failures: 0, errors: 0 };
        for (const s of suites) {
          const count = (k: string): number => s.cases.filter((c) => c.kinds.includes(k)).length;
          expect(Number(s.attrs['tests']), `${name} ${s.attrs['name']} tests`).to.equal(s.cases.length);
          expect(Number(s.attrs['failures']), `${name} ${s.attrs['name']} failures`).to.equal(count('failure'));
          expect(Number(s.attrs['errors']), `${name} ${s.attrs['name']} errors`).to.equal(count('error'));
          expect(Number(s.attrs['skipped']), `${name} ${s.attrs['name']} skipped`).to.equal(count('skipped'));
          for (const c of s.cases) expect(c.kinds.filter((k) => k === 'failure' || k === 'error' || k === 'skipped'), `${name} ${c.name}: at most one outcome element`).to.have.length.at.most(1);
          expect(s.attrs['timestamp'], `${name} timestamp`).to.match(ISO_8601);
          expect(Number.isNaN(Date.parse(s.attrs['timestamp'] as string))).to.equal(false);
          expect(s.attrs['time']).to.match(/^\d+\.\d{3}$/);
          totals = { tests: totals.tests + Number(s.attrs['tests']), failures: totals.failures + Number(s.attrs['failures']), errors: totals.errors + Number(s.attrs['errors']) };
        }
        expect({ tests: Number(top['tests']), failures: Number(top['failures']), errors: Number(top['errors']) }, `${name}: testsuites totals`).to.deep.equal(totals);
        const names = suites.flatMap((s) => s.cases.map((c) => c.name));
        expect(names, `${name}: a testcase per result, named by the case id`).to.deep.equal(r.conformance.results.map((x) => x.id));
      }
    });

    it('a case keeps its testcase name and classname whether it passes or fails', function () {
      const pass = readJunit(text('reference', 'xml')).suites.flatMap((s) => s.cases);
      const fail = readJunit(text('broken', 'xml')).suites.flatMap((s) => s.cases);
      const failing = fail.filter((c) => c.kinds.includes('failure'));
      expect(failing.map((c) => c.name).sort()).to.deep.equal(['v1.get.astral-characters', 'v1.set.app-id-64-chars']);
      for (const c of failing) {
        const same = pass.find((p) => p.name === c.name);
        expect(same, `${c.name} in the passing run`).to.not.equal(undefined);
        expect(same?.kinds, `${c.name} passes there`).to.deep.equal([]);
        expect(same?.classname).to.equal(c.classname);
      }
    });

    it('<failure> for verdicts, <error> for errors, <skipped> with the reason (expected failures too); warnings and exchanges in <system-out>', function () {
      for (const name of ['mixed', 'broken', 'hostile-spec', 'misbehaving']) {
        const r = report(name);
        const strict = r.conformance.meta.strict;
        const cases = readJunit(text(name, 'xml')).suites.flatMap((s) => s.cases);
        for (const x of r.conformance.results) {
          const c = cases.find((k) => k.name === x.id);
          const label = `${name} ${x.id} (${x.outcome})`;
          expect(c, label).to.not.equal(undefined);
          if (x.outcome === 'skipped' || x.outcome === 'notrun') {
            expect(c?.outcome?.kind, label).to.equal('skipped');
            expect(c?.outcome?.message, label).to.equal(x.skip?.reason).and.not.equal('');
          } else if (x.outcome === 'xfailed') {
            expect(c?.outcome).to.include({ kind: 'skipped', type: 'expected-failure' });
            expect(c?.outcome?.message, label).to.include(x.expectation?.reason as string);
          } else if (x.outcome === 'errored') {
            expect(c?.outcome?.kind, label).to.equal('error');
            expect(c?.outcome?.type, label).to.equal(x.error?.code);
          } else if (isCounted(x, strict)) {
            expect(c?.outcome?.kind, label).to.equal('failure');
            const first = x.failures[0] ?? x.warnings[0];
            expect(c?.outcome?.type, label).to.equal(`${first?.level} ${first?.requirement}`);
            for (const f of [...x.failures, ...(strict ? x.warnings : [])]) expect(c?.outcome?.text, label).to.include(f.requirement).and.include(f.link);
          } else {
            expect(c?.outcome, label).to.equal(undefined);
          }
          if (x.warnings.length && !strict) expect(c?.systemOut, `${label}: warnings in system-out`).to.include('Warnings (SHOULD').and.include(x.warnings[0]?.requirement as string);
          for (const e of x.exchanges) {
            expect(c?.systemOut, `${label}: the exchange of step ${e.step}`).to.include(e.step === 0 ? 'before the first step' : `step ${e.step}`).and.include(`${e.request.method} ${e.request.url}`);
            if (e.curl) expect(c?.systemOut, label).to.include('reproduce: ');
            if (e.response) expect(c?.systemOut, label).to.include(`← ${e.direction === 'from-target' ? 'the gateway answered ' : ''}${e.response.status}`);
          }
        }
      }
      // The mixed run holds every kind of element.
      const kinds = new Set(readJunit(text('mixed', 'xml')).suites.flatMap((s) => s.cases.flatMap((c) => c.kinds)));
      expect([...kinds].sort()).to.deep.equal(['error', 'failure', 'skipped', 'system-out']);
      // A warning at MUST level stays a pass, with the warning in system-out.
      const warned = readJunit(text('hostile-spec', 'xml')).suites.flatMap((s) => s.cases).find((c) => c.name === 'v1.set.valid-pusher');
      expect(warned?.kinds).to.deep.equal(['system-out']);
    });
  });

  describe('tap', function () {
    it('TAP version 13, a plan, a point per case in order, # TODO for expected failures, # SKIP with the reason', function () {
      for (const name of FILE_RUNS) {
        const r = report(name);
        const strict = r.conformance.meta.strict;
        const tap = parseTap(text(name, 'tap'), name);
        expect(tap.plan, name).to.equal(r.conformance.results.length);
        expect(tap.points.map((p) => p.id), name).to.deep.equal(r.conformance.results.map((x) => x.id));
        r.conformance.results.forEach((x, i) => {
          const p = tap.points[i];
          const label = `${name} ${x.id} (${x.outcome})`;
          if (x.outcome === 'skipped' || x.outcome === 'notrun') {
            expect(p?.ok, label).to.equal(true);
            expect(p?.directive?.kind, label).to.equal('SKIP');
            expect(p?.directive?.reason, label).to.equal(x.skip?.reason).and.not.equal('');
            expect(p?.block, `${label}: no block`).to.equal(undefined);
          } else if (x.outcome === 'xfailed') {
            expect(p?.ok, label).to.equal(false);
            expect(p?.directive).to.deep.equal({ kind: 'TODO', reason: `expected failure: ${x.expectation?.reason ?? ''}` });
          } else {
            expect(p?.ok, label).to.equal(!isCounted(x, strict));
            expect(p?.directive, label).to.equal(undefined);
          }
          const needsBlock = x.outcome !== 'skipped' && x.outcome !== 'notrun' && (x.failures.length > 0 || x.warnings.length > 0 || x.error !== undefined || x.expectation !== undefined);
          expect(p?.block !== undefined, `${label}: a YAML block when it did not pass cleanly`).to.equal(needsBlock);
        });
      }
      const mixed = parseTap(text('mixed', 'tap'), 'mixed');
      expect(mixed.points.filter((p) => p.directive?.kind === 'TODO').map((p) => p.id)).to.deep.equal(['v1.delete.without-app-id']);
      expect(mixed.points.filter((p) => p.directive?.kind === 'SKIP').map((p) => p.id).sort()).to.deep.equal(['v1.delete.removes-pusher', 'v1.push.stops-after-delete']);
    });

    it('each YAML block parses back to what the JSON report holds', function () {
      for (const name of ['mixed', 'broken', 'hostile-spec', 'repeat', 'never-lists']) {
        const r = report(name);
        const strict = r.conformance.meta.strict;
        const tap = parseTap(text(name, 'tap'), name);
        r.conformance.results.forEach((x, i) => {
          const b = tap.points[i]?.block as Record<string, unknown> | undefined;
          if (!b) return;
          const label = `${name} ${x.id}`;
          expect(b['outcome'], label).to.equal(x.outcome);
          const failures = (b['failures'] ?? []) as Array<Record<string, unknown>>;
          expect(failures.map((f) => [f['requirement'], f['level'], f['link'], f['message']]), label).to.deep.equal(x.failures.map((f) => [f.requirement, f.level, f.link, f.message]));
          const warnings = (b[strict ? 'failures_should' : 'warnings'] ?? []) as Array<Record<string, unknown>>;
          expect(warnings.map((f) => f['requirement']), label).to.deep.equal(x.warnings.map((f) => f.requirement));
          for (const [k, f] of failures.entries()) {
            expect(JSON.parse(f['expected'] as string), `${label} expected`).to.deep.equal(x.failures[k]?.expected);
            expect(JSON.parse(f['actual'] as string), `${label} actual`).to.deep.equal(x.failures[k]?.actual);
          }
          if (x.error) expect(b['error'], label).to.deep.equal({ code: x.error.code, message: x.error.message });
          if (x.flaky) expect(b['outcomes'], label).to.deep.equal(x.flaky);
          const exchanges = (b['exchanges'] ?? []) as Array<Record<string, unknown>>;
          expect(exchanges.map((e) => [e['step'], e['status'], e['response']]), label).to.deep.equal(x.exchanges.map((e) => [e.step, e.response?.status ?? null, e.response?.body ?? '']));
        });
      }
    });

    it('nothing the target sends starts a line: forged points, CR, ESC and OSC stay inside their YAML string', function () {
      const forged = /^\s*(ok 99|not ok 98|# forged)/;
      for (const [label, tapText] of [['hostile tap on stdout', run('hostile-tap').stdout], ['hostile tap file', text('hostile-spec', 'tap')]] as const) {
        const tap = parseTap(tapText, label);
        for (const line of tapText.split('\n')) expect(forged.test(line), `${label}: a forged line: ${JSON.stringify(line)}`).to.equal(false);
        // The forged text is there, inside a string.
        expect(tapText).to.include('ok 99 - forged');
        const blocks = tap.points.map((p) => JSON.stringify(p.block ?? {})).join('\n');
        expect(blocks, `${label}: the forged lines parse back inside a string`).to.include(JSON.stringify('\r\nok 99 - forged\nnot ok 98 - forged\r# forged').slice(1, -1));
      }
      // A block line is a key or a list item: the parser above has read each; none holds a raw control or CR.
      expectNoRawControls(run('hostile-tap').stdout, 'hostile tap on stdout');
    });
  });

  describe('json', function () {
    it('every JSON report validates against spec/report.schema.json (reference, broken, misbehaving, --expectations, --repeat 2, hostile)', function () {
      for (const name of [...FILE_RUNS, 'hostile-junit']) report(name);
      const stdout = checkJsonReport(run('hostile-json').stdout, 'hostile json on stdout');
      expect(stdout.conformance.results.length).to.equal(report('hostile-spec').conformance.results.length);
      expect(report('mixed').conformance.meta.expectations).to.match(/mixed-expectations\.yaml$/);
      expect(report('mixed').conformance.gate?.passed).to.equal(false);
      expect(report('repeat').conformance.meta.repeat).to.equal(2);
      const flaky = report('repeat').conformance.results[0];
      expect(flaky?.flaky?.slice().sort()).to.deep.equal(['failed', 'passed']);
      expect(report('misbehaving').conformance.results.filter((x) => x.error?.code === 'ERR_SERVER_ERROR').length).to.be.greaterThan(0);
    });

    it('the schema check can fail: a result without an outcome, or with one the schema does not know, is refused', function () {
      const r = JSON.parse(text('broken', 'json')) as JsonReport;
      const withoutOutcome = structuredClone(r) as unknown as { conformance: { results: Array<Record<string, unknown>> } };
      delete withoutOutcome.conformance.results[0]?.['outcome'];
      expect(() => checkJsonReport(JSON.stringify(withoutOutcome), 'without an outcome')).to.throw(/outcome/);
      const unknown = structuredClone(r);
      (unknown.conformance.results[0] as JsonResult).outcome = 'maybe';
      expect(() => checkJsonReport(JSON.stringify(unknown), 'an unknown outcome')).to.throw(/outcome/);
    });

    it('conformance.results holds every selected case: id, edition, outcome, failures with requirement, level, expected, actual and a versioned spec link, and the exchanges of failing steps', function () {
      const selected: Record<string, string[]> = { reference: idsOf('v1', 'outside'), broken: idsOf('v1', 'outside'), mixed: idsOf('v1', 'delete'), 'never-lists': idsOf('v1', 'v1.get'), misbehaving: idsOf('v1', 'v1.set.missing'), 'hostile-spec': idsOf('v1', 'create') };
      for (const [name, ids] of Object.entries(selected)) {
        const r = report(name);
        expect(r.conformance.results.map((x) => x.id).sort(), name).to.deep.equal([...ids].sort());
        expect(r.conformance.summary['total']).to.equal(ids.length);
        for (const x of r.conformance.results) {
          const label = `${name} ${x.id}`;
          expect(x.edition, label).to.equal('v1');
          for (const f of [...x.failures, ...x.warnings]) {
            expect(f, label).to.include.keys('requirement', 'level', 'expected', 'actual', 'link', 'message', 'step');
            expect(f.level, label).to.be.oneOf(['MUST', 'SHOULD']);
            expect(f.link, label).to.match(SPEC_LINK);
            const version = r.conformance.meta['specVersions'] as Record<string, { version: string }>;
            expect(f.link, `${label}: the link names the version judged`).to.include(`/${version['v1']?.version}/`);
          }
          // Every exchange of the steps up to the last failing one, in order; each failing step that sent a request among them.
          const steps = new Set([...x.failures, ...x.warnings].map((f) => f.step));
          if (x.error?.step !== undefined) steps.add(x.error.step);
          const shown = x.exchanges.map((e) => e.step);
          if (shown.length) expect(Math.max(...shown), `${label}: up to the last failing step`).to.equal(Math.max(...steps));
          expect(x.exchanges.map((e) => e.atMs), `${label}: in order`).to.deep.equal([...x.exchanges.map((e) => e.atMs)].sort((a, b) => a - b));
          for (const st of steps) if (x.failures.some((f) => f.step === st && f.check !== 'await_notification')) expect(shown, `${label}: the exchange of failing step ${st}`).to.include(st);
          if (x.outcome === 'passed') expect(x.exchanges, label).to.deep.equal([]);
          // A case that errored on an answer shows that answer.
          if (x.error && ['ERR_SERVER_ERROR', 'ERR_NOT_JSON'].includes(x.error.code)) expect(x.exchanges.find((e) => e.step === x.error?.step)?.response?.status, `${label}: the answer it errored on`).to.be.a('number');
        }
      }
      const failed = report('broken').conformance.results.filter((x) => x.outcome === 'failed');
      expect(failed.map((x) => x.id).sort()).to.deep.equal(['v1.get.astral-characters', 'v1.set.app-id-64-chars']);
      expect(failed.every((x) => x.exchanges.length > 0 && x.exchanges.every((e) => e.direction === 'from-target' || e.curl?.startsWith('curl ')))).to.equal(true);
    });

    it('objects two failures share are written whole, never as [object Object]', function () {
      const raw = text('never-lists', 'json');
      expect(raw).to.not.include('[object Object]');
      const r = report('never-lists');
      let shared = 0;
      for (const x of r.conformance.results) {
        const lists = x.failures.filter((f) => f.check === 'list');
        for (let i = 1; i < lists.length; i++) {
          const a = lists[0] as (typeof lists)[number];
          const b = lists[i] as (typeof lists)[number];
          if (a.step !== b.step) continue;
          shared++;
          expect(b.expected, `${x.id}: the second failure's expected, whole`).to.deep.equal(a.expected);
          expect(a.expected, x.id).to.be.an('array').that.is.not.empty;
          for (const item of a.expected as unknown[]) expect(item, x.id).to.be.an('object').and.not.be.a('string');
        }
      }
      expect(shared, 'the server that lists nothing makes failures that share their patterns').to.be.greaterThan(0);
      for (const name of ['never-lists']) for (const ext of ['tap', 'xml', 'html'] as const) expect(text(name, ext), `${name}.${ext}`).to.not.include('[object Object]');
    });
  });

  describe('hostile text from the target', function () {
    it('reaches the reports (so the checks below mean something)', function () {
      const r = report('hostile-spec');
      const all = JSON.stringify(r.conformance.results);
      const results = r.conformance.results;
      expect(results.some((x) => [...x.failures, ...x.warnings].some((f) => f.message.includes('\u001b]0;pwned-title\u0007'))), 'a message holds the hostile member name').to.equal(true);
      expect(results.some((x) => x.exchanges.some((e) => e.response?.headers['x-hostile'] === HOSTILE_HEADER)), 'a header value').to.equal(true);
      expect(results.some((x) => x.exchanges.some((e) => e.response?.headers['content-type']?.startsWith('text/plain') && e.response.body.includes('\u001b[2J'))), 'a non-JSON body').to.equal(true);
      expect(results.some((x) => x.error?.code === 'ERR_SERVER_ERROR'), 'an error').to.equal(true);
      expect(results.some((x) => x.error?.code === 'ERR_NOT_JSON' && x.error.message.includes(`text/plain; x=${HOSTILE_HEADER}`)), 'an error message quoting a hostile header value').to.equal(true);
      expect(all).to.include(JSON.stringify(HOSTILE).slice(1, -1));
      expect(run('hostile-spec').stdout, 'the terminal shows it escaped').to.include('\\x1b]0;pwned-title\\x07').and.include('\\u009b31m').and.include('text/plain; x=h\\u0085i\\u009b[2J');
    });

    it('no raw control character reaches stdout or stderr, whichever reporter writes there', function () {
      for (const r of ['spec', 'json', 'junit', 'tap', 'html']) {
        const ran = run(`hostile-${r}`);
        expect(ran.stdout.length, `${r} wrote its report to stdout`).to.be.greaterThan(1000);
        for (const [stream, bytes] of [['stdout', ran.stdoutBytes], ['stderr', ran.stderrBytes]] as const) {
          const t = utf8(bytes, `${r} ${stream}`);
          expectNoRawControls(t, `--reporter ${r}: ${stream}`);
          expect(hasLoneSurrogate(t)).to.equal(false);
        }
      }
    });

    it('no raw control character in the report files; junit valid, html escaped', function () {
      for (const ext of ['tap', 'xml', 'html'] as const) expectNoRawControls(text('hostile-spec', ext), `hostile .${ext}`);
      // JSON may hold the target's text exactly; it is still one valid document, with controls escaped.
      expectNoRawControls(text('hostile-spec', 'json'), 'hostile .json', RAW_CONTROL);
      const xml = text('hostile-spec', 'xml');
      expect(xml, 'no CDATA section to break out of').to.not.include('<![CDATA[');
      expect(xml).to.not.include(']]>').and.not.include('<b>').and.not.include('</script>');
      const html = text('hostile-spec', 'html');
      const tags = [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => (m[1] as string).toLowerCase());
      const allowed = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'p', 'br', 'div', 'b', 'code', 'table', 'tbody', 'tr', 'td', 'details', 'summary', 'pre', 'blockquote', 'ul', 'li', 'span', 'a', 'button', 'input', 'script']);
      for (const t of tags) expect(allowed.has(t), `an element the report does not write: <${t}>`).to.equal(true);
      // One script, the page's own: its text hashes to what the policy allows.
      const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/gi)].map((m) => m[1] as string);
      expect(scripts.length, 'one script').to.equal(1);
      expect((html.match(/<script/gi) ?? []).length).to.equal(1);
      expect(`sha256-${createHash('sha256').update(scripts[0] as string, 'utf8').digest('base64')}`).to.equal(SCRIPT_HASH);
      expect(html).to.include(`script-src '${SCRIPT_HASH}'`).and.not.match(/<b>bold/i);
      expect(html).to.include('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;').and.include('&lt;b&gt;bold&lt;/b&gt;');
    });

    it('the hostile junit and html are well-formed (xmllint)', function () {
      needXmllint(this);
      const lint = xmllint(file('hostile-spec', 'xml'));
      expect(lint.ok, lint.stderr).to.equal(true);
      const h = xmllint(file('hostile-spec', 'html'), { html: true });
      // libxml2's HTML parser predates <details> and <summary>; any other complaint is a real one.
      const complaints = h.stderr.split('\n').filter((l) => / parser error : /.test(l) && !/ parser error : Tag (details|summary) invalid$/.test(l));
      expect(complaints, h.stderr.slice(0, 2000)).to.deep.equal([]);
    });

    it('long astral values are cut at code-point boundaries only (the JUnit of these runs is validated with the others above)', function () {
      // Honest run: the astral cases pass against the reference server.
      expect(report('reference').conformance.results.every((x) => x.outcome === 'passed')).to.equal(true);
      for (const name of ['broken', 'astral']) {
        const outputs: Array<[string, string]> = [[`${name} stdout`, run(name).stdout], ...(['tap', 'xml', 'html', 'json'] as const).map((ext): [string, string] => [`${name}.${ext}`, text(name, ext)])];
        for (const [label, t] of outputs) {
          expect(hasLoneSurrogate(t), `${label}: a lone surrogate`).to.equal(false);
          expect(ESCAPED_SURROGATE.test(t), `${label}: half a surrogate pair, escaped: ${ESCAPED_SURROGATE.exec(t)?.[0]}`).to.equal(false);
          expect(t, `${label}: no replacement character from a broken cut`).to.not.match(/😀\ufffd|\ufffd😀/);
        }
      }
      const astral = run('astral');
      expect(astral.stdout, 'the terminal cut the body').to.match(/… \(\d+ more characters\)/);
      const astralResult = report('astral').conformance.results[0];
      const failingStep = astralResult?.error?.step ?? astralResult?.failures[0]?.step;
      const body = astralResult?.exchanges.find((e) => e.step === failingStep)?.response?.body ?? '';
      expect(Buffer.byteLength(body), 'the results kept (nearly) 64 KiB of the body').to.be.within(60_000, 64 * 1024);
      expect(body).to.include(ASTRAL.slice(0, 200));
      const broken = text('broken', 'xml');
      expect(broken, 'the broken run shows the astral characters of its exchanges').to.include('Conformance 😀 Suite').and.include('𠜎 Phone 𝄞');
    });
  });
});

describe('the CLI surface', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('-h, --help, -V and --version', async function () {
    const [h, help, v, version] = await Promise.all([runCli(['-h']), runCli(['--help']), runCli(['-V']), runCli(['--version'])]);
    for (const r of [h, help]) {
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^Usage:\n/);
      expect(r.stdout).to.include('--reporter R[:FILE]').and.include('Exit codes:');
    }
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const r of [v, version]) {
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`${pkg.version}\n`);
    }
  });

  it('a usage error prints one line per problem and a hint, never the whole help (exit 2)', async function () {
    const r = await runCli(['--jobs', 'many', '--reporter', 'xml', '--bogus', '--edition', 'v9']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).to.have.length(5);
    expect(lines[0]).to.match(/^conformance: --jobs takes a whole number/);
    expect(lines[1]).to.match(/^conformance: --reporter is one of spec, json, junit, tap, html/);
    expect(lines[2]).to.equal('conformance: unknown option --bogus');
    expect(lines[3]).to.match(/^conformance: --edition is draft, v1 or all/);
    expect(lines[4]).to.equal('conformance: see conformance --help');
    expect(r.stderr).to.not.include('Usage:');
  });

  it('--grep that matches nothing exits 2', async function () {
    const r = await runCli(['--grep', 'no-such-case-anywhere']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('no case matches --grep no-such-case-anywhere');
  });

  it('a report path that cannot be written exits 2 before any request reaches the target', async function () {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"versions":["v1.11"]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dir = mkdtempSync(join(tmpdir(), 'conformance-paths-'));
      dirs.push(dir);
      const r = await runCli(['--target', url, '--reporter', `json:${join(dir, 'no', 'such', 'dir', 'r.json')}`, '--reporter', `junit:${join(dir, 'ok.xml')}`]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(/cannot write .*r\.json \(ENOENT\)/);
      expect(requests, 'the target received no request').to.equal(0);
      // Sanity: the same server does receive requests once the paths are fine.
      const ok = await runCli(['--target', url, '--reporter', `json:${join(dir, 'r.json')}`, '--grep', 'v1.set.valid-pusher']);
      expect(ok.code).to.not.equal(2);
      expect(requests).to.be.greaterThan(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
