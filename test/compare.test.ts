/**
 * The comparison of JSON reports: every kind of cell, cases missing from a
 * report, totals, input validation, and Markdown and HTML that render what
 * they are given and nothing else. Reports are built here, in the format
 * src/report/render.ts writes; one test runs the real renderer to keep the two
 * in step.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CELLS, compareReports, comparisonHtml, comparisonMarkdown, defaultReportName, type Cell, type Comparison } from '../src/compare.js';
import { ConformanceError, UsageError } from '../src/errors.js';

type Outcome = 'passed' | 'failed' | 'warned' | 'errored' | 'skipped';

interface FakeCase {
  id: string;
  title?: string;
  outcome: Outcome;
  /** MUST check failures (failed) and SHOULD check failures (warned). */
  must?: number;
  should?: number;
}

interface FakeOptions {
  strict?: boolean;
  server?: string;
  target?: string;
  version?: string;
  expectedFailures?: string[];
  /** Cases whose mocha failure says it passed although an expectations entry lists it. */
  unexpectedPasses?: string[];
}

/** A report as `conformance --reporter json` writes it: mocha's JSON reporter format plus `conformance`. */
function fakeReport(cases: FakeCase[], o: FakeOptions = {}): Record<string, unknown> {
  const strict = o.strict ?? false;
  const editions = [...new Set(cases.map((c) => c.id.split('.')[0] as string))];
  const test = (c: FakeCase): Record<string, unknown> => {
    let title = `${c.id}: ${c.title ?? `title of ${c.id}`}`;
    if (c.outcome === 'warned' && !strict) title += ' [warning: SHOULD some.requirement]';
    if (c.outcome === 'errored') title += ' [error]';
    return { title, fullTitle: `edition ${c.id.split('.')[0]} ${title}`, file: `cases/${c.id}.yaml`, duration: 1, currentRetry: 0, speed: 'fast', err: {} };
  };
  const unexpected = new Set(o.unexpectedPasses ?? []);
  const expected = new Set(o.expectedFailures ?? []);
  const failing = (c: FakeCase): boolean => unexpected.has(c.id) || (!expected.has(c.id) && (c.outcome === 'failed' || c.outcome === 'errored' || (strict && c.outcome === 'warned')));
  const tests = cases.map(test);
  const passes = cases.filter((c) => (c.outcome === 'passed' || c.outcome === 'warned' || expected.has(c.id)) && !failing(c) && c.outcome !== 'skipped').map(test);
  const failures = cases.filter(failing).map((c) => {
    const outcome = unexpected.has(c.id) ? 'passed' : c.outcome;
    return { ...test(c), err: { message: unexpected.has(c.id) ? 'unexpectedly passing, remove it from the file' : 'failed', name: c.outcome === 'errored' ? 'TargetError' : 'ConformanceFailure', outcome, failures: [] } };
  });
  const pending = cases.filter((c) => c.outcome === 'skipped').map(test);
  const count = (k: Outcome): number => cases.filter((c) => c.outcome === k).length;
  const conformance: Record<string, unknown> = {
    meta: {
      suite: { name: 'matrix-pushers-conformance', version: o.version ?? '0.1.0' },
      target: o.target ?? 'http://127.0.0.1:8008',
      embedded: false,
      editions,
      strict,
      versions: { versions: ['v1.11'] },
      server: o.server ?? 'TestServer/1.0',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:01.000Z',
      durationMs: 1000,
    },
    summary: {
      total: cases.length,
      passed: count('passed'),
      failed: count('failed'),
      warned: count('warned'),
      errored: count('errored'),
      skipped: count('skipped'),
      mustFailures: cases.reduce((n, c) => n + (c.must ?? (c.outcome === 'failed' ? 1 : 0)), 0),
      shouldFailures: cases.reduce((n, c) => n + (c.should ?? (c.outcome === 'warned' ? 1 : 0)), 0),
    },
    failing: cases.filter(failing).map((c) => c.id),
    warnings: cases.filter((c) => c.outcome === 'warned').map((c) => ({ case: c.id, requirement: 'some.requirement', level: 'SHOULD', message: 'm', quote: 'q', source: 'f:1', curl: 'curl' })),
    errors: cases.filter((c) => c.outcome === 'errored').map((c) => ({ case: c.id, code: 'ERR_TARGET_UNREACHABLE', message: 'connection reset' })),
    skipped: cases.filter((c) => c.outcome === 'skipped').map((c) => ({ case: c.id, reason: 'needs 2 users, 1 given' })),
  };
  if (o.expectedFailures) conformance['expectedFailures'] = o.expectedFailures;
  return {
    stats: { suites: editions.length, tests: tests.length, passes: passes.length, pending: pending.length, failures: failures.length, start: '', end: '', duration: 1 },
    tests,
    pending,
    failures,
    passes,
    conformance,
  };
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
  { id: 'v1.set.known', outcome: 'failed', must: 1 },
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
    { name: 'alpha', report: fakeReport(A_CASES, { expectedFailures: ['v1.set.known'], server: 'Alpha/2.0' }), file: 'reports/alpha.json' },
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
    expect(c.rows.find((r) => r.id === 'v1.set.error')?.title, 'the [error] suffix is not part of the title').to.equal('title of v1.set.error');
    expect(c.rows.find((r) => r.id === 'v1.set.should')?.title, 'the warning suffix is not part of the title').to.equal('title of v1.set.should');
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
    expect(beta?.provenance.target).to.equal('http://beta.test:8008');
  });

  it('shows a listed case the server now passes as pass (the report flags the stale entry)', () => {
    const report = fakeReport([{ id: 'v1.set.fixed', outcome: 'passed' }, { id: 'v1.set.still', outcome: 'failed' }], { expectedFailures: ['v1.set.fixed', 'v1.set.still'], unexpectedPasses: ['v1.set.fixed'] });
    const c = compareReports([{ name: 'x', report }]);
    expect(cell(c, 'v1.set.fixed', 'x')).to.equal('pass');
    expect(cell(c, 'v1.set.still', 'x')).to.equal('expected failure');
  });

  it('reads the xfailed and xpassed outcomes of the expectations feature', () => {
    const report = fakeReport([{ id: 'v1.set.stale', outcome: 'failed' }, { id: 'v1.set.known', outcome: 'passed' }, { id: 'v1.set.plain', outcome: 'failed' }]);
    const failure = (report['failures'] as Array<Record<string, unknown>>).find((t) => String(t['title']).startsWith('v1.set.stale:'));
    (failure?.['err'] as Record<string, unknown>)['outcome'] = 'xpassed';
    (report['passes'] as Array<Record<string, unknown>>)[0] = { title: 'v1.set.known: title of v1.set.known', err: { outcome: 'xfailed' } };
    const c = compareReports([{ name: 'x', report }]);
    expect(cell(c, 'v1.set.stale', 'x')).to.equal('pass');
    expect(cell(c, 'v1.set.known', 'x')).to.equal('expected failure');
    expect(cell(c, 'v1.set.plain', 'x')).to.equal('fail');
  });

  it('accepts expectedFailures entries given as objects with a case member', () => {
    const report = fakeReport([{ id: 'v1.set.a', outcome: 'failed' }]);
    (report['conformance'] as Record<string, unknown>)['expectedFailures'] = [{ case: 'v1.set.a', reason: 'known' }];
    expect(cell(compareReports([{ name: 'x', report }]), 'v1.set.a', 'x')).to.equal('expected failure');
  });

  it('notes reports of different suite versions', () => {
    const c = compareReports([
      { name: 'a', report: fakeReport([{ id: 'v1.a.b', outcome: 'passed' }], { version: '0.1.0' }) },
      { name: 'b', report: fakeReport([{ id: 'v1.a.b', outcome: 'passed' }], { version: '0.2.0' }) },
    ]);
    expect(c.notes.join('\n')).to.match(/different suite versions \(matrix-pushers-conformance 0\.1\.0, matrix-pushers-conformance 0\.2\.0\)/);
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

  it('names the missing or malformed member', () => {
    const broken = (mutate: (r: Record<string, unknown>, conf: Record<string, unknown>) => void): string => {
      const r = fakeReport([{ id: 'v1.a.b', outcome: 'passed' }]);
      mutate(r, r['conformance'] as Record<string, unknown>);
      return usageError(() => compareReports([{ name: 'dendrite', report: r }])).message;
    };
    expect(broken((_r, c) => delete c['meta'])).to.match(/^dendrite: .*conformance\.meta/);
    expect(broken((_r, c) => delete c['summary'])).to.match(/conformance\.summary/);
    expect(broken((_r, c) => (c['warnings'] = {}))).to.match(/conformance\.warnings/);
    expect(broken((_r, c) => (c['expectedFailures'] = 'v1.a.b'))).to.match(/conformance\.expectedFailures/);
    expect(broken((r) => delete r['passes'])).to.match(/`passes` array/);
    expect(broken((r) => ((r['tests'] as Array<Record<string, unknown>>)[0] = { title: 'no case id here' }))).to.match(/does not start with "<case id>: "/);
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
    expect(lines[0]).to.include('**alpha**').and.include('matrix-pushers-conformance 0.1.0').and.include('http://127.0.0.1:8008').and.include('Alpha/2.0').and.include('editions v1, draft').and.include('level MUST');
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

describe('compare: reads what the real renderer writes', () => {
  it('gives the same cells for a report rendered by src/report/render.ts', function () {
    this.timeout(30_000);
    const render = new URL('../src/report/render.js', import.meta.url).href;
    const script = `
      import { render } from ${JSON.stringify(render)};
      const exchange = { request: { method: 'POST', url: 'http://x/p', headers: {} }, durationMs: 1, curl: 'curl x' };
      const check = (level) => ({ requirement: 'v1.r', level, quote: 'q', check: 'status', expected: 400, actual: 200, message: 'm', step: 1, stepTitle: 's', source: 'f:1', exchange });
      const base = { edition: 'v1', file: 'cases/v1/a.yaml', requirements: [], tags: [], failures: [], warnings: [], durationMs: 1, requests: 1 };
      const results = [
        { ...base, id: 'v1.a.pass', title: 'passes', outcome: 'passed' },
        { ...base, id: 'v1.a.fail', title: 'fails: really', outcome: 'failed', failures: [check('MUST')] },
        { ...base, id: 'v1.a.warn', title: 'warns', outcome: 'warned', warnings: [check('SHOULD')] },
        { ...base, id: 'v1.a.err', title: 'errs', outcome: 'errored', error: { code: 'ERR_TARGET_UNREACHABLE', message: 'reset' } },
        { ...base, id: 'v1.a.skip', title: 'skips', outcome: 'skipped', skipReason: 'needs 2 users' },
      ];
      const strict = process.argv.includes('strict');
      const meta = { suite: { name: 'matrix-pushers-conformance', version: '0.1.0' }, target: 'http://t', embedded: false, editions: ['v1'], strict, versions: { versions: ['v1.1'] }, server: 'S/1', startedAt: 'a', finishedAt: 'b', durationMs: 5 };
      process.stdout.write(await render({ meta, results }, { reporter: 'json', strict }));
    `;
    const rendered = (strict: boolean): unknown => {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', ...(strict ? ['strict'] : [])], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      expect(child.status, child.stderr).to.equal(0);
      return JSON.parse(child.stdout) as unknown;
    };
    const c = compareReports([{ name: 'must', report: rendered(false) }, { name: 'strict', report: rendered(true) }]);
    const expected: Record<string, Cell> = { 'v1.a.pass': 'pass', 'v1.a.fail': 'fail', 'v1.a.warn': 'warn', 'v1.a.err': 'error', 'v1.a.skip': 'skipped' };
    for (const [id, want] of Object.entries(expected)) {
      expect(cell(c, id, 'must'), `${id} at MUST`).to.equal(want);
      expect(cell(c, id, 'strict'), `${id} strict`).to.equal(want);
    }
    expect(c.rows.find((r) => r.id === 'v1.a.fail')?.title).to.equal('fails: really');
    expect(c.implementations.map((i) => [i.mustFailures, i.shouldFailures])).to.deep.equal([[1, 1], [1, 1]]);
  });
});
