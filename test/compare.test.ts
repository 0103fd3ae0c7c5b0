/**
 * The comparison of JSON reports: every kind of cell, cases missing from a
 * report, totals, input validation against spec/report.schema.json,
 * regressions and --changes-only, and Markdown and HTML that render what
 * they are given and nothing else.
 *
 * Reports are made by the real JSON reporter (src/report/json.ts) from result
 * data built here, so they are exactly what `--reporter json` writes; the CLI
 * tests at the end compare reports the CLI wrote against the reference
 * server and a broken one.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CELLS, changesOnly, compareReports, comparisonHtml, comparisonMarkdown, defaultReportName, regressions, type Cell, type Comparison } from '../src/compare.js';
import { ConformanceError, UsageError } from '../src/errors.js';
import { render } from '../src/report/index.js';
import type { CaseResult, CheckFailure, Outcome, RunMeta, RunReport } from '../src/run/types.js';
import { BROKEN_ASTRAL } from './support/report-servers.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { checkJsonReport, readJsonReport, runCli, type Ran } from './support/reports.js';

interface FakeCase {
  id: string;
  title?: string;
  outcome: Outcome;
  /** MUST check failures (failed) and SHOULD check failures (warned). */
  must?: number;
  should?: number;
  /** For a skipped case: its skip code (default users, a reason of the target's). */
  skip?: 'users' | 'version';
}

interface FakeOptions {
  strict?: boolean;
  server?: string;
  target?: string;
  version?: string;
}

function check(level: 'MUST' | 'SHOULD', n: number): CheckFailure {
  const exchange = { request: { method: 'POST', url: 'http://127.0.0.1:8008/_matrix/client/v3/pushers/set', headers: {} }, response: { status: 200, headers: {}, body: '{}', truncated: false }, durationMs: 1, curl: 'curl x' };
  return { requirement: `v1.some.${level.toLowerCase()}-${n}`, level, ground: 'server-rule', quote: 'q', link: 'https://spec.matrix.org/v1.11/client-server-api/#post_matrixclientv3pushersset', versions: 'v1.1+', check: 'status', expected: 400, actual: 200, message: 'expected status 400, got 200', step: 1, stepTitle: 'set', source: 'cases/v1/x.yaml:1', exchange };
}

/** Result data as the runner produces it, for the real JSON reporter. */
function fakeRun(cases: FakeCase[], o: FakeOptions = {}): RunReport {
  const strict = o.strict ?? false;
  const editions = [...new Set(cases.map((c) => c.id.split('.')[0] as string))];
  const results: CaseResult[] = cases.map((c) => {
    const edition = c.id.split('.')[0] as string;
    const must = c.must ?? (c.outcome === 'failed' || c.outcome === 'xfailed' ? 1 : 0);
    const should = c.should ?? (c.outcome === 'warned' ? 1 : 0);
    const r: CaseResult = { id: c.id, title: c.title ?? `title of ${c.id}`, edition, area: 'pushers', file: `cases/${edition}/${c.id}.yaml`, requirements: [], tags: [], outcome: c.outcome, failures: Array.from({ length: must }, (_, i) => check('MUST', i)), warnings: Array.from({ length: should }, (_, i) => check('SHOULD', i)), durationMs: 1, requests: 1 };
    if (c.outcome === 'errored') r.error = { code: 'ERR_HTTP_RESET', message: 'connection reset', step: 1 };
    if (c.outcome === 'skipped') Object.assign(r, c.skip === 'version' ? { skipReason: 'not in v1.2: v1.x holds from v1.6', skipCode: 'version', skipCause: 'version' } : { skipReason: 'needs 2 users, 1 given', skipCode: 'users', skipCause: 'target' });
    if (c.outcome === 'xfailed' || c.outcome === 'xpassed') r.expectation = { reason: 'known', file: 'known.yaml', ...(c.outcome === 'xfailed' ? { matched: true } : {}) };
    return r;
  });
  const meta: RunMeta = {
    suite: { name: 'matrix-pushers-conformance', version: o.version ?? '0.1.0' },
    target: o.target ?? 'http://127.0.0.1:8008',
    embedded: false,
    editions,
    strict,
    versions: { versions: ['v1.11'] },
    specVersions: Object.fromEntries(editions.map((e) => [e, { version: e === 'v1' ? 'v1.11' : e, from: 'advertised' }])),
    server: o.server ?? 'TestServer/1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    ...(cases.some((c) => c.outcome === 'xfailed' || c.outcome === 'xpassed') ? { expectations: 'known.yaml' } : {}),
  };
  return { meta, results };
}

/** A report as `conformance --reporter json` writes it (and valid against the schema, or the test fails). */
function fakeReport(cases: FakeCase[], o: FakeOptions = {}): Record<string, unknown> {
  const text = render(fakeRun(cases, o), 'json');
  checkJsonReport(text, 'a report made by the JSON reporter');
  return JSON.parse(text) as Record<string, unknown>;
}

function cell(c: Comparison, id: string, name: string): Cell {
  const row = c.rows.find((r) => r.id === id);
  const i = c.implementations.findIndex((x) => x.name === name);
  expect(row, `row ${id}`).to.not.equal(undefined);
  expect(i, `implementation ${name}`).to.be.at.least(0);
  return row?.cells[i] as Cell;
}

/** Cells of a GitHub table row: split on pipes no backslash escapes. */
function tableCells(line: string): string[] {
  const cells: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (ch === '\\' && i + 1 < line.length) {
      current += ch + (line[i + 1] as string);
      i++;
    } else if (ch === '|') {
      cells.push(current);
      current = '';
    } else current += ch;
  }
  cells.push(current);
  expect(cells[0]?.trim(), `row starts with a pipe: ${line}`).to.equal('');
  expect(cells[cells.length - 1]?.trim(), `row ends with a pipe: ${line}`).to.equal('');
  return cells.slice(1, -1);
}

/** Every block of consecutive `|` lines, as rows of cells; checks the delimiter row. */
function markdownTables(markdown: string): string[][][] {
  const tables: string[][][] = [];
  let block: string[] = [];
  for (const line of [...markdown.split('\n'), '']) {
    if (line.startsWith('|')) block.push(line);
    else if (block.length) {
      expect(block.length, 'a table has a header and a delimiter row').to.be.at.least(2);
      const rows = block.map(tableCells);
      for (const c of rows[1] as string[]) expect(c.trim()).to.match(/^:?-{3,}:?$/);
      tables.push(rows);
      block = [];
    }
  }
  return tables;
}

const A_CASES: FakeCase[] = [
  { id: 'v1.set.ok', outcome: 'passed' },
  { id: 'v1.set.broken', outcome: 'failed', must: 2 },
  { id: 'v1.set.should', outcome: 'warned', should: 1 },
  { id: 'v1.set.error', outcome: 'errored', must: 0 },
  { id: 'v1.set.skip', outcome: 'skipped' },
  { id: 'v1.set.known', outcome: 'xfailed', must: 1 },
  { id: 'v1.only.in-a', outcome: 'passed' },
  { id: 'draft.set.ok', outcome: 'passed' },
];
const B_CASES: FakeCase[] = [
  { id: 'v1.set.ok', outcome: 'failed', must: 1 },
  { id: 'v1.set.broken', outcome: 'passed' },
  { id: 'v1.set.should', outcome: 'warned', should: 2 },
  { id: 'v1.set.error', outcome: 'passed' },
  { id: 'v1.set.skip', outcome: 'passed' },
  { id: 'v1.set.known', outcome: 'passed' },
  { id: 'v1.only.in-b', outcome: 'skipped' },
];

function twoReports(): Comparison {
  return compareReports([
    { name: 'alpha', report: fakeReport(A_CASES, { server: 'Alpha/2.0' }), file: 'reports/alpha.json' },
    { name: 'beta', report: fakeReport(B_CASES, { strict: true, target: 'http://beta.test:8008' }) },
  ]);
}

describe('compare: reports side by side', () => {
  it('gives every kind of cell, one per case and implementation', () => {
    const c = twoReports();
    expect(c.implementations.map((i) => i.name)).to.deep.equal(['alpha', 'beta']);
    expect(cell(c, 'v1.set.ok', 'alpha')).to.equal('pass');
    expect(cell(c, 'v1.set.broken', 'alpha')).to.equal('fail');
    expect(cell(c, 'v1.set.should', 'alpha')).to.equal('warn');
    expect(cell(c, 'v1.set.error', 'alpha')).to.equal('error');
    expect(cell(c, 'v1.set.skip', 'alpha')).to.equal('skipped');
    expect(cell(c, 'v1.set.known', 'alpha')).to.equal('expected failure');
    expect(cell(c, 'v1.only.in-b', 'alpha')).to.equal('—');
    expect(cell(c, 'v1.set.ok', 'beta')).to.equal('fail');
    expect(cell(c, 'v1.only.in-b', 'beta')).to.equal('skipped');
    const seen = new Set(c.rows.flatMap((r) => r.cells));
    for (const k of CELLS) expect(seen.has(k), `a ${k} cell`).to.equal(true);
  });

  it('shows a case that only SHOULD checks failed as warn in a --strict report too (the level is in the provenance)', () => {
    const c = twoReports();
    expect(cell(c, 'v1.set.should', 'beta')).to.equal('warn');
    expect(c.implementations[1]?.provenance.level).to.equal('strict');
    expect(c.implementations[0]?.provenance.level).to.equal('MUST');
    expect(c.notes.join('\n')).to.match(/different levels/);
  });

  it('shows — for a case present in one report only, and keeps one row per case id, sorted by edition then id', () => {
    const c = twoReports();
    expect(c.rows.map((r) => r.id)).to.deep.equal(['v1.only.in-a', 'v1.only.in-b', 'v1.set.broken', 'v1.set.error', 'v1.set.known', 'v1.set.ok', 'v1.set.should', 'v1.set.skip', 'draft.set.ok']);
    expect(cell(c, 'v1.only.in-a', 'alpha')).to.equal('pass');
    expect(cell(c, 'v1.only.in-a', 'beta')).to.equal('—');
    expect(cell(c, 'draft.set.ok', 'beta')).to.equal('—');
    expect(c.rows.find((r) => r.id === 'draft.set.ok')?.edition).to.equal('draft');
    expect(c.rows.find((r) => r.id === 'v1.set.error')?.title, 'the title is the case title alone').to.equal('title of v1.set.error');
  });

  it('counts totals per implementation and check failures per level', () => {
    const [alpha, beta] = twoReports().implementations;
    expect(alpha?.cases).to.equal(8);
    expect(alpha?.totals).to.deep.equal({ pass: 3, warn: 1, fail: 1, 'expected failure': 1, error: 1, skipped: 1, '—': 1 });
    expect(alpha?.mustFailures).to.equal(3);
    expect(alpha?.shouldFailures).to.equal(1);
    expect(beta?.cases).to.equal(7);
    expect(beta?.totals).to.deep.equal({ pass: 4, warn: 1, fail: 1, 'expected failure': 0, error: 0, skipped: 1, '—': 2 });
    expect(beta?.mustFailures).to.equal(1);
    expect(beta?.shouldFailures).to.equal(2);
  });

  it('reads provenance from conformance.meta', () => {
    const [alpha, beta] = twoReports().implementations;
    expect(alpha?.file).to.equal('reports/alpha.json');
    expect(alpha?.provenance).to.include({ target: 'http://127.0.0.1:8008', server: 'Alpha/2.0', level: 'MUST', embedded: false });
    expect(alpha?.provenance.suite).to.deep.equal({ name: 'matrix-pushers-conformance', version: '0.1.0' });
    expect(alpha?.provenance.editions).to.deep.equal(['v1', 'draft']);
    expect(alpha?.provenance.specVersions).to.deep.equal({ v1: 'v1.11', draft: 'draft' });
    expect(beta?.provenance.target).to.equal('http://beta.test:8008');
  });

  it('reads the outcomes of conformance.results alone: xfailed is an expected failure, xpassed (a stale entry) a pass', () => {
    const report = fakeReport([
      { id: 'v1.set.fixed', outcome: 'xpassed' },
      { id: 'v1.set.still', outcome: 'xfailed' },
      { id: 'v1.set.plain', outcome: 'failed' },
    ]);
    // The mocha part is not read: emptying it changes no cell.
    const withoutMocha = { ...report, tests: [], passes: [], failures: [], pending: [] };
    for (const r of [report, withoutMocha]) {
      const c = compareReports([{ name: 'x', report: r }]);
      expect(cell(c, 'v1.set.fixed', 'x')).to.equal('pass');
      expect(cell(c, 'v1.set.still', 'x')).to.equal('expected failure');
      expect(cell(c, 'v1.set.plain', 'x')).to.equal('fail');
    }
  });

  it('notes reports of different suite versions', () => {
    const c = compareReports([
      { name: 'a', report: fakeReport([{ id: 'v1.a.b', outcome: 'passed' }], { version: '0.1.0' }) },
      { name: 'b', report: fakeReport([{ id: 'v1.a.b', outcome: 'passed' }], { version: '0.2.0' }) },
    ]);
    expect(c.notes.join('\n')).to.match(/different suite versions \(matrix-pushers-conformance 0\.1\.0, matrix-pushers-conformance 0\.2\.0\)/);
  });
});

describe('compare: regressions and --changes-only', () => {
  const pair = (from: Outcome, to: Outcome): Comparison => compareReports([{ name: 'old', report: fakeReport([{ id: 'v1.a.case', outcome: from }, { id: 'v1.a.same', outcome: 'passed' }]) }, { name: 'new', report: fakeReport([{ id: 'v1.a.case', outcome: to }, { id: 'v1.a.same', outcome: 'passed' }]) }]);

  it('a case that got worse from the first report to the last is a regression', () => {
    const worse: Array<[Outcome, Outcome]> = [['passed', 'failed'], ['passed', 'warned'], ['warned', 'failed'], ['passed', 'errored'], ['warned', 'errored'], ['failed', 'errored'], ['xfailed', 'failed'], ['xfailed', 'errored'], ['xpassed', 'failed'], ['passed', 'skipped'], ['failed', 'skipped'], ['errored', 'skipped'], ['xfailed', 'skipped']];
    for (const [from, to] of worse) {
      const r = regressions(pair(from, to));
      expect(r.map((x) => x.id), `${from} → ${to}`).to.deep.equal(['v1.a.case']);
    }
  });

  it('a case that stayed or got better, was skipped in the first report, left out for the version the last judged by, or absent, is none', () => {
    const notWorse: Array<[Outcome, Outcome]> = [['failed', 'passed'], ['errored', 'failed'], ['errored', 'passed'], ['warned', 'passed'], ['failed', 'failed'], ['errored', 'errored'], ['passed', 'passed'], ['skipped', 'failed'], ['skipped', 'skipped'], ['failed', 'xfailed']];
    for (const [from, to] of notWorse) expect(regressions(pair(from, to)), `${from} → ${to}`).to.deep.equal([]);
    const versioned = compareReports([{ name: 'v1.15', report: fakeReport([{ id: 'v1.a.case', outcome: 'passed' }]) }, { name: 'v1.2', report: fakeReport([{ id: 'v1.a.case', outcome: 'skipped', skip: 'version' }]) }]);
    expect(regressions(versioned), 'left out for the version judged').to.deep.equal([]);
    const absent = compareReports([{ name: 'old', report: fakeReport([{ id: 'v1.a.other', outcome: 'passed' }]) }, { name: 'new', report: fakeReport([{ id: 'v1.a.case', outcome: 'failed' }, { id: 'v1.a.other', outcome: 'passed' }]) }]);
    expect(regressions(absent), 'a case new in the last report').to.deep.equal([]);
  });

  it('--changes-only keeps the rows whose cells differ, and says so', () => {
    const c = changesOnly(twoReports());
    expect(c.rows.map((r) => r.id)).to.deep.equal(['v1.only.in-a', 'v1.only.in-b', 'v1.set.broken', 'v1.set.error', 'v1.set.known', 'v1.set.ok', 'v1.set.skip', 'draft.set.ok']);
    expect(c.rows.some((r) => r.id === 'v1.set.should'), 'warn in both: unchanged').to.equal(false);
    expect(c.notes.join('\n')).to.include('Only the 8 case(s) whose result differs are shown (--changes-only).');
  });
});

describe('compare: input validation', () => {
  function usageError(fn: () => unknown): UsageError {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(UsageError);
      expect(err).to.be.instanceOf(ConformanceError);
      expect((err as ConformanceError).code).to.equal('ERR_USAGE');
      return err as UsageError;
    }
    expect.fail('no error thrown');
  }

  it('refuses something that is not a conformance JSON report, naming the file', () => {
    const good = fakeReport([{ id: 'v1.a.b', outcome: 'passed' }]);
    const plainMocha = { ...good };
    delete plainMocha['conformance'];
    for (const report of [null, [], 'text', 42, { hello: 'world' }, plainMocha]) {
      const err = usageError(() => compareReports([{ name: 'ok', report: good, file: 'ok.json' }, { name: 'synapse', report, file: 'out/synapse.json' }]));
      expect(err.message).to.match(/^out\/synapse\.json: not a conformance JSON report/);
      expect(err.message).to.not.include('ok.json');
    }
    expect(usageError(() => compareReports([{ name: 'x', report: plainMocha, file: 'x.json' }])).message).to.match(/no `conformance` member/);
  });

  it('refuses a report that does not validate against spec/report.schema.json, naming the member', () => {
    const broken = (mutate: (r: Record<string, unknown>, conf: Record<string, unknown>, results: Array<Record<string, unknown>>) => void): string => {
      const r = fakeReport([{ id: 'v1.a.b', outcome: 'passed' }, { id: 'v1.a.c', outcome: 'failed' }]);
      const conf = r['conformance'] as Record<string, unknown>;
      mutate(r, conf, conf['results'] as Array<Record<string, unknown>>);
      return usageError(() => compareReports([{ name: 'dendrite', report: r }])).message;
    };
    expect(broken((_r, c) => delete c['meta'])).to.match(/^dendrite: not a conformance JSON report.*\/conformance: must have required property 'meta'/);
    expect(broken((_r, c) => delete c['results'])).to.match(/\/conformance: must have required property 'results'/);
    expect(broken((_r, c) => (c['format'] = 'something/else'))).to.match(/\/conformance\/format: must be equal to constant/);
    expect(broken((_r, _c, rs) => ((rs[0] as Record<string, unknown>)['outcome'] = 'maybe'))).to.match(/\/conformance\/results\/0\/outcome: must be equal to one of the allowed values/);
    expect(broken((_r, _c, rs) => delete (rs[1] as Record<string, unknown>)['id'])).to.match(/\/conformance\/results\/1: must have required property 'id'/);
    expect(broken((_r, _c, rs) => (((rs[1] as Record<string, unknown>)['failures'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>)['level'] = 'MAY')).to.match(/\/conformance\/results\/1\/failures\/0\/level/);
    expect(broken((r) => delete r['passes'])).to.match(/\(root\): must have required property 'passes'/);
    expect(broken((_r, _c, rs) => ((rs[1] as Record<string, unknown>)['id'] = 'v1.a.b'))).to.match(/case v1\.a\.b appears twice in conformance\.results/);
  });

  it('lists the problems of every file at once', () => {
    const err = usageError(() => compareReports([{ name: 'a', report: {}, file: 'a.json' }, { name: 'b', report: [], file: 'b.json' }]));
    expect(err.problems).to.have.length(2);
    expect(err.problems[0]).to.match(/^a\.json: /);
    expect(err.problems[1]).to.match(/^b\.json: /);
  });

  it('refuses no reports, and two reports with the same name', () => {
    expect(usageError(() => compareReports([])).message).to.match(/no report/);
    const r = fakeReport([{ id: 'v1.a.b', outcome: 'passed' }]);
    expect(usageError(() => compareReports([{ name: 'synapse', report: r, file: 'a/synapse.json' }, { name: 'synapse', report: r, file: 'b/synapse.json' }])).message).to.match(/b\/synapse\.json: the implementation name "synapse" is already used by a\/synapse\.json/);
  });

  it('derives a default name from the file name, else the server or target', () => {
    expect(defaultReportName('out/synapse.json')).to.equal('synapse');
    expect(defaultReportName('/tmp/Dendrite.JSON')).to.equal('Dendrite');
    expect(defaultReportName('report.txt')).to.equal('report.txt');
    expect(defaultReportName('-', fakeReport([], { server: 'Synapse/1.2' }))).to.equal('Synapse/1.2');
  });
});

describe('compare: Markdown', () => {
  it('renders well-formed GitHub tables: the same number of cells in every row', () => {
    const md = comparisonMarkdown(twoReports());
    const tables = markdownTables(md);
    expect(tables, 'totals and cases').to.have.length(2);
    for (const rows of tables) {
      const width = rows[0]?.length;
      for (const r of rows) expect(r.length, r.join('|')).to.equal(width);
    }
    const [totals, cases] = tables as [string[][], string[][]];
    expect(totals[0]?.map((c) => c.trim())).to.deep.equal(['', 'alpha', 'beta']);
    expect(cases[0]?.map((c) => c.trim())).to.deep.equal(['case', 'title', 'alpha', 'beta']);
    expect(cases).to.have.length(2 + 9);
    expect(cases.find((r) => r[0]?.trim() === 'v1.set.known')?.map((c) => c.trim())).to.deep.equal(['v1.set.known', 'title of v1.set.known', 'expected failure', 'pass']);
    expect(cases.find((r) => r[0]?.trim() === 'draft.set.ok')?.map((c) => c.trim()).slice(2)).to.deep.equal(['pass', '—']);
    expect(totals.find((r) => r[0]?.trim() === 'MUST check failures')?.map((c) => c.trim()).slice(1)).to.deep.equal(['3', '1']);
    expect(totals.find((r) => r[0]?.trim() === 'SHOULD check failures')?.map((c) => c.trim()).slice(1)).to.deep.equal(['1', '2']);
  });

  it('has a provenance line per implementation', () => {
    const md = comparisonMarkdown(twoReports());
    const lines = md.split('\n').filter((l) => l.startsWith('- **'));
    expect(lines).to.have.length(2);
    expect(lines[0]).to.include('**alpha**').and.include('matrix-pushers-conformance 0.1.0').and.include('http://127.0.0.1:8008').and.include('Alpha/2.0').and.include('editions v1, draft').and.include('level MUST').and.include('judged by v1 v1.11');
    expect(lines[1]).to.include('**beta**').and.include('http://beta.test:8008').and.include('level strict');
  });

  it('keeps titles and names with pipes, newlines, backslashes and HTML inside their cell', () => {
    const title = 'a | b \\| c\nd <script>alert(1)</script> `x` *y* _z_ app_id';
    const c = compareReports([{ name: 'we|ird <b>', report: fakeReport([{ id: 'v1.a.b', title, outcome: 'passed' }]) }]);
    const md = comparisonMarkdown(c);
    expect(md).to.not.include('<script>');
    expect(md).to.not.include('<b>');
    const [, cases] = markdownTables(md) as [string[][], string[][]];
    expect(cases[0]).to.have.length(3);
    expect(cases[2]).to.have.length(3);
    expect(cases[2]?.[1]).to.include('&lt;script&gt;').and.include('app_id').and.include('\\_z\\_');
  });
});

describe('compare: HTML', () => {
  it('is a self-contained page: inline CSS, no script, no external resource', () => {
    const page = comparisonHtml(twoReports());
    expect(page).to.match(/^<!DOCTYPE html>/);
    expect(page).to.match(/<style>[\s\S]+<\/style>/);
    expect(page).to.not.match(/<script|<link|<img|<iframe|\bsrc=|\bhref=|@import|url\(/i);
    expect(page).to.include(`default-src 'none'`);
    for (const k of ['pass', 'fail', 'warn', 'expected failure', 'error', 'skipped', '—']) expect(page).to.include(`>${k}</td>`);
  });

  it('escapes every text: a title with <script> stays text', () => {
    const title = '<script>alert("x")</script> & <img src=x onerror=alert(1)> \'q\'';
    const c = compareReports([{ name: '<i>impl</i>', report: fakeReport([{ id: 'v1.a.b', title, outcome: 'passed' }], { server: '<b>srv</b>' }), file: 'a"b.json' }]);
    const page = comparisonHtml(c);
    expect(page).to.not.match(/<script|<img|<i>|<b>/i);
    expect(page).to.include('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt; &#39;q&#39;');
    expect(page).to.include('&lt;i&gt;impl&lt;/i&gt;');
    expect(page).to.include('&lt;b&gt;srv&lt;/b&gt;');
    expect(page).to.include('a&quot;b.json');
  });
});

describe('compare: the CLI, on reports the CLI wrote', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'conformance-compare-'));
  const files = { reference: join(dir, 'reference.json'), broken: join(dir, 'broken.json') };
  let server: ProxyServer;

  before(async function () {
    server = await startProxy(BROKEN_ASTRAL);
    const grep = ['--edition', 'v1', '--grep', 'outside'];
    const [a, b] = await Promise.all([runCli([...grep, '--reporter', `json:${files.reference}`]), runCli(['--target', server.url, ...grep, '--reporter', `json:${files.broken}`])]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(1);
    readJsonReport(files.reference);
    readJsonReport(files.broken);
  });

  after(async function () {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads their conformance.results: a column per report, the cells the runs reached', async function () {
    const r = await runCli(['compare', files.reference, `synapse-like=${files.broken}`]);
    expect(r.code, r.stderr).to.equal(0);
    const [, cases] = markdownTables(r.stdout) as [string[][], string[][]];
    expect(cases[0]?.map((c) => c.trim())).to.deep.equal(['case', 'title', 'reference', 'synapse-like']);
    const rows = Object.fromEntries(cases.slice(2).map((row) => [row[0]?.trim(), row.slice(2).map((c) => c.trim())]));
    expect(rows).to.deep.equal({ 'v1.get.astral-characters': ['pass', 'fail'], 'v1.set.app-id-64-chars': ['pass', 'fail'], 'v1.set.app-id-65-chars': ['pass', 'pass'] });
  });

  it('a report that does not validate is refused: exit 2, naming the file and the member', async function () {
    const report = JSON.parse(readFileSync(files.broken, 'utf8')) as { conformance: { results: Array<Record<string, unknown>> } };
    delete report.conformance.results[0]?.['outcome'];
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(report));
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{"stats": ');
    const [r, r2, r3] = await Promise.all([runCli(['compare', bad]), runCli(['compare', files.reference, notJson]), runCli(['compare', join(dir, 'missing.json')])]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.include(`${bad}: not a conformance JSON report`).and.include("/conformance/results/0: must have required property 'outcome'");
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.include(`${notJson}: cannot read a JSON report (not JSON)`);
    expect(r3.code).to.equal(2);
    expect(r3.stderr).to.include('(ENOENT)');
  });

  it('--fail-on-regression: exit 1 when a case got worse from the first report to the last, 0 otherwise', async function () {
    const write = (name: string, cases: FakeCase[]): string => {
      const f = join(dir, `${name}.json`);
      writeFileSync(f, render(fakeRun(cases), 'json'));
      return f;
    };
    const old = write('old', [{ id: 'v1.a.one', outcome: 'passed' }, { id: 'v1.a.two', outcome: 'warned' }, { id: 'v1.a.three', outcome: 'failed' }]);
    const toError = write('to-error', [{ id: 'v1.a.one', outcome: 'passed' }, { id: 'v1.a.two', outcome: 'warned' }, { id: 'v1.a.three', outcome: 'errored' }]);
    const toWarn = write('to-warn', [{ id: 'v1.a.one', outcome: 'warned' }, { id: 'v1.a.two', outcome: 'warned' }, { id: 'v1.a.three', outcome: 'failed' }]);
    const better = write('better', [{ id: 'v1.a.one', outcome: 'passed' }, { id: 'v1.a.two', outcome: 'passed' }, { id: 'v1.a.three', outcome: 'passed' }]);
    const runs = await Promise.all([
      runCli(['compare', files.reference, files.broken, '--fail-on-regression']),
      runCli(['compare', files.broken, files.reference, '--fail-on-regression']),
      runCli(['compare', old, toError, '--fail-on-regression']),
      runCli(['compare', old, toWarn, '--fail-on-regression']),
      runCli(['compare', old, better, '--fail-on-regression']),
      runCli(['compare', old, toWarn]),
    ]);
    const [worse, improved, error, warn, ok, noFlag] = runs as [Ran, Ran, Ran, Ran, Ran, Ran];
    expect(worse.code, worse.stderr).to.equal(1);
    expect(worse.stderr).to.include('conformance: regression: v1.set.app-id-64-chars was pass, is fail').and.include('conformance: regression: v1.get.astral-characters was pass, is fail').and.include('2 case(s) got worse from reference to broken');
    expect(worse.stdout, 'the table is still written').to.include('### Cases');
    expect(improved.code, improved.stderr).to.equal(0);
    expect(improved.stderr).to.equal('');
    expect(error.code, 'fail → error').to.equal(1);
    expect(error.stderr).to.include('v1.a.three was fail, is error');
    expect(warn.code, 'pass → warn').to.equal(1);
    expect(warn.stderr).to.include('v1.a.one was pass, is warn');
    expect(ok.code, ok.stderr).to.equal(0);
    expect(noFlag.code, 'without the flag a regression is only shown').to.equal(0);
    const same = await runCli(['compare', `a=${files.broken}`, `b=${files.broken}`, '--fail-on-regression']);
    expect(same.code, same.stderr).to.equal(0);
  });

  it('--changes-only shows only the rows that differ', async function () {
    const [all, changes] = await Promise.all([runCli(['compare', files.reference, files.broken]), runCli(['compare', files.reference, files.broken, '--changes-only'])]);
    expect(changes.code, changes.stderr).to.equal(0);
    const ids = (md: string): string[] => ((markdownTables(md)[1] ?? []).slice(2)).map((r) => r[0]?.trim() as string);
    expect(ids(all.stdout)).to.deep.equal(['v1.get.astral-characters', 'v1.set.app-id-64-chars', 'v1.set.app-id-65-chars']);
    expect(ids(changes.stdout)).to.deep.equal(['v1.get.astral-characters', 'v1.set.app-id-64-chars']);
    expect(changes.stdout).to.include('Only the 2 case(s) whose result differs are shown (--changes-only).');
  });
});
