/**
 * Comparison of several JSON reports (`--reporter json`), case by case and
 * implementation by implementation, as a Markdown table (for a README or a
 * pull request) or a self-contained HTML page.
 *
 * A cell says what the server did in that case, whatever level the report ran
 * at: `pass`, `fail` (a MUST check failed), `warn` (only SHOULD checks
 * failed; a `--strict` report counts it as failing, the provenance line shows
 * the level), `error` (no verdict could be reached), `skipped` (not run),
 * `expected failure` (the case is listed in the report's
 * `conformance.expectedFailures`, or its test carries outcome `xfailed`, and it
 * did not pass), and `—` when the report does not hold the case at all. A
 * listed case the server now passes (outcome `xpassed`: the expectations entry
 * is stale, and the report fails for it) shows `pass`: the table is about the
 * servers, the report's own verdict about the expectations file.
 */
import { basename, extname } from 'node:path';
import { UsageError } from './errors.js';
import { EDITIONS } from './spec/requirements.js';

/** One report to compare: `report` is the parsed JSON of a `--reporter json` file. */
export interface NamedReport {
  /** The implementation's name: the column header. Unique among the reports compared. */
  name: string;
  report: unknown;
  /** Where the report was read from, for error messages (defaults to `name`). */
  file?: string;
}

export const CELLS = ['pass', 'warn', 'fail', 'expected failure', 'error', 'skipped', '—'] as const;
export type Cell = (typeof CELLS)[number];

export interface Provenance {
  suite: { name: string; version: string };
  target: string;
  /** The bundled reference server, started by the CLI itself. */
  embedded: boolean;
  server?: string;
  editions: string[];
  /** `MUST`, or `strict` (SHOULD failures counted) for a `--strict` report. */
  level: 'MUST' | 'strict';
  /** The spec versions the target advertised in GET /_matrix/client/versions. */
  versions: string[];
  startedAt?: string;
}

export interface Implementation {
  name: string;
  file?: string;
  provenance: Provenance;
  /** Cases per cell kind; `—` counts the cases of the comparison this report does not hold. */
  totals: Record<Cell, number>;
  /** Cases in this report. */
  cases: number;
  /** Check failures per level, from `conformance.summary`. */
  mustFailures: number;
  shouldFailures: number;
}

export interface ComparisonRow {
  id: string;
  edition: string;
  title: string;
  /** One cell per implementation, in the order of `Comparison.implementations`. */
  cells: Cell[];
}

export interface Comparison {
  implementations: Implementation[];
  /** The union of the cases of every report, sorted by edition (suite order) then id. */
  rows: ComparisonRow[];
  /** Things a reader should know to read the table fairly (different suite versions or levels, …). */
  notes: string[];
}

type Json = Record<string, unknown>;
type Outcome = 'passed' | 'failed' | 'warned' | 'errored' | 'skipped';
const OUTCOMES: readonly string[] = ['passed', 'failed', 'warned', 'errored', 'skipped'];

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `<case id>: <title>[ suffixes]` as written by src/report/render.ts. */
const TITLE = /^(\S+?): ([\s\S]*)$/;
const SUFFIXES = [/ \[warning: SHOULD [^\]]*\]$/, / \[error\]$/, / \[expected failure[^\]]*\]$/i, / \[unexpectedly pass[^\]]*\]$/i];

function stripSuffixes(title: string): string {
  let t = title;
  for (let changed = true; changed; ) {
    changed = false;
    for (const re of SUFFIXES) {
      const next = t.replace(re, '');
      if (next !== t) {
        t = next;
        changed = true;
      }
    }
  }
  return t;
}

interface ParsedCase {
  id: string;
  edition: string;
  title: string;
  cell: Exclude<Cell, '—'>;
}

interface ParsedReport {
  provenance: Provenance;
  cases: Map<string, ParsedCase>;
  mustFailures: number;
  shouldFailures: number;
}

/** Case ids of a conformance list whose entries are ids or objects with a `case` member. */
function caseIds(list: unknown[]): string[] {
  return list.map((e) => (typeof e === 'string' ? e : isObject(e) && typeof e['case'] === 'string' ? e['case'] : '')).filter((id) => id !== '');
}

/**
 * Checks that `report` is a conformance JSON report and reads it. Every
 * problem found is returned, prefixed by `label`.
 */
function parseReport(label: string, report: unknown): ParsedReport | string[] {
  const bad = (what: string): string => `${label}: not a conformance JSON report (write one with \`conformance --reporter json --output FILE\`): ${what}`;
  if (!isObject(report)) return [bad(`expected a JSON object, found ${Array.isArray(report) ? 'an array' : report === null ? 'null' : typeof report}`)];
  const conf = report['conformance'];
  if (!isObject(conf)) return [bad(isObject(report['stats']) ? 'no `conformance` member (a plain mocha JSON report?)' : 'neither mocha\'s `stats` nor a `conformance` member')];
  const problems: string[] = [];
  if (!isObject(report['stats'])) problems.push(bad('no `stats` object (mocha JSON reporter format)'));
  for (const key of ['tests', 'passes', 'failures', 'pending'] as const) {
    const list = report[key];
    if (!Array.isArray(list)) problems.push(bad(`no \`${key}\` array (mocha JSON reporter format)`));
    else if (!list.every((t) => isObject(t) && typeof t['title'] === 'string')) problems.push(bad(`an entry of \`${key}\` has no string \`title\``));
  }
  const meta = conf['meta'];
  if (!isObject(meta)) problems.push(bad('no `conformance.meta` object'));
  else {
    const suite = meta['suite'];
    if (!isObject(suite) || typeof suite['name'] !== 'string' || typeof suite['version'] !== 'string') problems.push(bad('`conformance.meta.suite` needs a string `name` and `version`'));
    if (typeof meta['target'] !== 'string') problems.push(bad('`conformance.meta.target` is not a string'));
    if (!Array.isArray(meta['editions']) || !meta['editions'].every((e) => typeof e === 'string')) problems.push(bad('`conformance.meta.editions` is not an array of strings'));
    if (meta['server'] !== undefined && meta['server'] !== null && typeof meta['server'] !== 'string') problems.push(bad('`conformance.meta.server` is not a string'));
  }
  const summary = conf['summary'];
  if (!isObject(summary) || typeof summary['mustFailures'] !== 'number' || typeof summary['shouldFailures'] !== 'number') problems.push(bad('`conformance.summary` needs numeric `mustFailures` and `shouldFailures`'));
  for (const key of ['failing', 'warnings', 'errors', 'skipped'] as const) if (!Array.isArray(conf[key])) problems.push(bad(`no \`conformance.${key}\` array`));
  const expected = conf['expectedFailures'];
  if (expected !== undefined && (!Array.isArray(expected) || !expected.every((e) => typeof e === 'string' || (isObject(e) && typeof e['case'] === 'string')))) problems.push(bad('`conformance.expectedFailures` must be an array of case ids'));
  if (problems.length) return problems;

  // The shape is right; now the contents.
  const m = meta as Json;
  const suite = m['suite'] as { name: string; version: string };
  const versions = isObject(m['versions']) && Array.isArray(m['versions']['versions']) ? m['versions']['versions'].filter((v): v is string => typeof v === 'string') : [];
  const provenance: Provenance = {
    suite: { name: suite.name, version: suite.version },
    target: m['target'] as string,
    embedded: m['embedded'] === true,
    editions: m['editions'] as string[],
    level: m['strict'] === true ? 'strict' : 'MUST',
    versions,
  };
  if (typeof m['server'] === 'string') provenance.server = m['server'];
  if (typeof m['startedAt'] === 'string') provenance.startedAt = m['startedAt'];

  const warned = new Set(caseIds(conf['warnings'] as unknown[]));
  const errored = new Set(caseIds(conf['errors'] as unknown[]));
  const skipped = new Set(caseIds(conf['skipped'] as unknown[]));
  const failing = new Set(caseIds(conf['failing'] as unknown[]));
  const expectedFailures = new Set(caseIds((expected as unknown[] | undefined) ?? []));

  interface Seen {
    id: string;
    edition: string;
    title: string;
    outcome: Outcome;
    /** A mocha failure for a case that passed: an expectations entry gone stale (outcome `xpassed`). */
    unexpectedPass: boolean;
    /** The report itself marks the case as failing as expected (outcome `xfailed`, or a title suffix). */
    expected: boolean;
  }
  const seen = new Map<string, Seen>();
  const read = (t: Json, key: 'tests' | 'passes' | 'failures' | 'pending'): Seen | undefined => {
    const title = t['title'] as string;
    const match = TITLE.exec(title);
    if (!match) {
      problems.push(bad(`the test title ${JSON.stringify(title)} in \`${key}\` does not start with "<case id>: "`));
      return undefined;
    }
    const id = match[1] as string;
    const fullTitle = typeof t['fullTitle'] === 'string' ? t['fullTitle'] : '';
    const edition = /^edition (\S+) /.exec(fullTitle)?.[1] ?? id.split('.')[0] ?? '';
    return { id, edition, title: stripSuffixes(match[2] as string), outcome: 'passed', unexpectedPass: false, expected: false };
  };
  for (const t of report['tests'] as Json[]) {
    const s = read(t, 'tests');
    if (s && !seen.has(s.id)) seen.set(s.id, s);
  }
  const mark = (key: 'passes' | 'failures' | 'pending', decide: (s: Seen, t: Json) => void): void => {
    for (const t of report[key] as Json[]) {
      const fresh = read(t, key);
      if (!fresh) continue;
      const s = seen.get(fresh.id) ?? fresh;
      seen.set(s.id, s);
      decide(s, t);
    }
  };
  mark('passes', (s, t) => {
    const err = isObject(t['err']) ? t['err'] : {};
    if (err['outcome'] === 'xfailed' || / \[expected failure[^\]]*\]$/i.test(t['title'] as string)) s.expected = true;
    s.outcome = warned.has(s.id) || / \[warning: SHOULD [^\]]*\]$/.test(t['title'] as string) ? 'warned' : 'passed';
  });
  mark('failures', (s, t) => {
    const err = isObject(t['err']) ? t['err'] : {};
    const said = typeof err['outcome'] === 'string' && OUTCOMES.includes(err['outcome']) ? (err['outcome'] as Outcome) : undefined;
    if (err['outcome'] === 'xfailed') {
      s.outcome = 'failed';
      s.expected = true;
    } else if (said === 'passed' || err['outcome'] === 'xpassed' || err['unexpectedPass'] === true || /unexpectedly pass/i.test(`${String(err['message'] ?? '')} ${t['title'] as string}`)) {
      s.outcome = 'passed';
      s.unexpectedPass = true;
    } else if (said && said !== 'skipped') s.outcome = said;
    else if (errored.has(s.id) || / \[error\]$/.test(t['title'] as string)) s.outcome = 'errored';
    else s.outcome = 'failed';
  });
  // The runner shows an expected failure as pending (mocha has no such state).
  mark('pending', (s, t) => {
    if (expectedFailures.has(s.id) || / \[expected failure[^\]]*\]$/i.test(t['title'] as string)) {
      s.outcome = 'failed';
      s.expected = true;
    } else s.outcome = 'skipped';
  });
  if (problems.length) return [...new Set(problems)];
  // Where mocha's lists and the conformance member disagree (this suite never writes that), the conformance member wins.
  for (const s of seen.values()) {
    if (skipped.has(s.id)) s.outcome = 'skipped';
    else if (s.outcome === 'passed' && !s.unexpectedPass && errored.has(s.id)) s.outcome = 'errored';
    else if (s.outcome === 'passed' && !s.unexpectedPass && !s.expected && failing.has(s.id) && !expectedFailures.has(s.id)) s.outcome = warned.has(s.id) ? 'warned' : 'failed';
  }

  const CELL: Record<Outcome, Exclude<Cell, '—' | 'expected failure'>> = { passed: 'pass', failed: 'fail', warned: 'warn', errored: 'error', skipped: 'skipped' };
  const cases = new Map<string, ParsedCase>();
  for (const s of seen.values()) {
    let cell: ParsedCase['cell'] = CELL[s.outcome];
    if ((expectedFailures.has(s.id) || s.expected) && s.outcome !== 'skipped' && !s.unexpectedPass) cell = 'expected failure';
    cases.set(s.id, { id: s.id, edition: s.edition, title: s.title, cell });
  }
  const sum = summary as Json;
  return { provenance, cases, mustFailures: sum['mustFailures'] as number, shouldFailures: sum['shouldFailures'] as number };
}

function editionRank(edition: string): number {
  const i = (EDITIONS as readonly string[]).indexOf(edition);
  return i === -1 ? EDITIONS.length : i;
}

/**
 * Builds the comparison. Throws a UsageError (code ERR_USAGE) listing every
 * problem when there is no report, a name is empty or repeated, or a report is
 * not a conformance JSON report (each problem names its file).
 */
export function compareReports(reports: NamedReport[]): Comparison {
  const problems: string[] = [];
  if (reports.length === 0) throw new UsageError(['compare: no report given; pass one or more files written with `--reporter json`']);
  const byName = new Map<string, string>();
  const parsed: ParsedReport[] = [];
  for (const r of reports) {
    const label = r.file ?? r.name;
    if (r.name.trim() === '') problems.push(`${label}: the implementation name is empty`);
    const other = byName.get(r.name);
    if (other !== undefined) problems.push(`${label}: the implementation name ${JSON.stringify(r.name)} is already used by ${other}; give each report a distinct name`);
    byName.set(r.name, label);
    const p = parseReport(label, r.report);
    if (Array.isArray(p)) problems.push(...p);
    else parsed.push(p);
  }
  if (problems.length) throw new UsageError(problems);

  const all = new Map<string, { id: string; edition: string; title: string }>();
  for (const p of parsed) for (const c of p.cases.values()) if (!all.has(c.id)) all.set(c.id, { id: c.id, edition: c.edition, title: c.title });
  const ordered = [...all.values()].sort((a, b) => editionRank(a.edition) - editionRank(b.edition) || (a.edition < b.edition ? -1 : a.edition > b.edition ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows: ComparisonRow[] = ordered.map((c) => ({ ...c, cells: parsed.map((p) => p.cases.get(c.id)?.cell ?? '—') }));

  const implementations: Implementation[] = reports.map((r, i) => {
    const p = parsed[i] as ParsedReport;
    const totals = Object.fromEntries(CELLS.map((k) => [k, 0])) as Record<Cell, number>;
    for (const row of rows) totals[row.cells[i] as Cell] += 1;
    const impl: Implementation = { name: r.name, provenance: p.provenance, totals, cases: p.cases.size, mustFailures: p.mustFailures, shouldFailures: p.shouldFailures };
    if (r.file !== undefined) impl.file = r.file;
    return impl;
  });

  const notes: string[] = [];
  const distinct = (f: (p: Provenance) => string): string[] => [...new Set(parsed.map((p) => f(p.provenance)))];
  const versions = distinct((p) => `${p.suite.name} ${p.suite.version}`);
  if (versions.length > 1) notes.push(`The reports come from different suite versions (${versions.join(', ')}): a case may not check the same thing in each.`);
  const levels = distinct((p) => p.level);
  if (levels.length > 1) notes.push('The reports ran at different levels (MUST and strict); cells do not depend on the level, but each report’s own verdict does.');
  const titles = new Map<string, Set<string>>();
  for (const p of parsed) {
    for (const c of p.cases.values()) {
      const set = titles.get(c.id) ?? new Set<string>();
      set.add(c.title);
      titles.set(c.id, set);
    }
  }
  const retitled = [...titles].filter(([, t]) => t.size > 1).map(([id]) => id);
  if (retitled.length) notes.push(`Some cases have different titles in different reports (${retitled.join(', ')}); the first report’s title is shown.`);
  if (rows.some((r) => r.cells.includes('—'))) notes.push('— marks a case a report does not hold (another edition, --grep, or another suite version).');
  return { implementations, rows, notes };
}

/**
 * The default implementation name for a report file: its base name without
 * `.json` (`out/synapse.json` → `synapse`); for a file with no usable name
 * (`-`, `.json`), the report's server header, else its target URL.
 */
export function defaultReportName(file: string, report?: unknown): string {
  const base = basename(file);
  const ext = extname(base);
  const name = (base.toLowerCase() === '.json' ? '' : ext.toLowerCase() === '.json' ? base.slice(0, -ext.length) : base).trim();
  if (name !== '' && name !== '-') return name;
  const meta = isObject(report) && isObject(report['conformance']) && isObject(report['conformance']['meta']) ? report['conformance']['meta'] : {};
  if (typeof meta['server'] === 'string' && meta['server'] !== '') return meta['server'];
  if (typeof meta['target'] === 'string' && meta['target'] !== '') return meta['target'];
  return file;
}

// ---- rendering ----

const LEVEL_NOTE = (p: Provenance): string => (p.level === 'strict' ? 'strict (SHOULD failures count)' : 'MUST (SHOULD failures are warnings)');

/** The provenance of one report as plain text fields. */
function provenanceFields(p: Provenance): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['suite', `${p.suite.name} ${p.suite.version}`],
    ['target', p.embedded ? `${p.target} (bundled reference server)` : p.target],
    ['server', p.server ?? '(no Server header)'],
    ['editions', p.editions.join(', ')],
    ['level', LEVEL_NOTE(p)],
  ];
  if (p.versions.length) fields.push(['advertised versions', p.versions.join(', ')]);
  if (p.startedAt) fields.push(['started', p.startedAt]);
  return fields;
}

const TOTAL_ROWS: Array<[string, (i: Implementation) => number]> = [
  ['cases in report', (i) => i.cases],
  ['pass', (i) => i.totals.pass],
  ['warn (SHOULD only)', (i) => i.totals.warn],
  ['fail', (i) => i.totals.fail],
  ['expected failure', (i) => i.totals['expected failure']],
  ['error', (i) => i.totals.error],
  ['skipped', (i) => i.totals.skipped],
  ['— (not in report)', (i) => i.totals['—']],
  ['MUST check failures', (i) => i.mustFailures],
  ['SHOULD check failures', (i) => i.shouldFailures],
];

/** Text for a GitHub table cell or list item: nothing in it can end the cell, start markup or raw HTML. */
function md(text: string): string {
  return text
    .replace(/\r\n?|\n/g, ' ')
    .replace(/[\\`*[\]#~|!]/g, (c) => `\\${c}`)
    // An underscore between two letters or digits never starts emphasis: leave app_id readable.
    .replace(/_/g, (c, at: number, all: string) => (/[\p{L}\p{N}]/u.test(all[at - 1] ?? '') && /[\p{L}\p{N}]/u.test(all[at + 1] ?? '') ? c : `\\${c}`))
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function mdTable(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** GitHub-flavoured Markdown: provenance per implementation, totals, then one table row per case. */
export function comparisonMarkdown(c: Comparison): string {
  const names = c.implementations.map((i) => md(i.name));
  const out: string[] = ['### Implementations', ''];
  for (const i of c.implementations) out.push(`- **${md(i.name)}**: ${provenanceFields(i.provenance).map(([k, v]) => `${k} ${md(v)}`).join(' · ')}`);
  out.push('', '### Totals', '');
  out.push(...mdTable(['', ...names], TOTAL_ROWS.map(([label, f]) => [md(label), ...c.implementations.map((i) => String(f(i)))])));
  out.push('', '### Cases', '');
  out.push(...mdTable(['case', 'title', ...names], c.rows.map((r) => [md(r.id), md(r.title), ...r.cells.map((cell) => md(cell))])));
  if (c.notes.length) out.push('', ...c.notes.map((n) => `- ${md(n)}`));
  return out.join('\n') + '\n';
}

function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const CELL_CLASS: Record<Cell, string> = { pass: 'pass', warn: 'warn', fail: 'fail', 'expected failure': 'xfail', error: 'error', skipped: 'skipped', '—': 'absent' };

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #1f2328; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
td.cell { text-align: center; white-space: nowrap; }
td.pass { background: #dafbe1; } td.warn { background: #fff8c5; } td.fail { background: #ffebe9; font-weight: 600; }
td.xfail { background: #f1e8ff; } td.error { background: #ffd8b5; font-weight: 600; } td.skipped { background: #eaeef2; } td.absent { color: #8c959f; }
dl { margin: .3em 0 1em; display: grid; grid-template-columns: max-content auto; gap: .1em 1em; } dt { color: #59636e; } dd { margin: 0; }
.notes { color: #59636e; }
`;

/** A self-contained HTML page (inline CSS; no script, no external resource), every text escaped. */
export function comparisonHtml(c: Comparison): string {
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Matrix pushers conformance: comparison</title>',
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<h1>Matrix pushers conformance: comparison</h1>',
    '<h2>Implementations</h2>',
  ];
  for (const i of c.implementations) {
    out.push(`<h3>${html(i.name)}</h3>`, '<dl>');
    for (const [k, v] of provenanceFields(i.provenance)) out.push(`<dt>${html(k)}</dt><dd>${html(v)}</dd>`);
    if (i.file !== undefined) out.push(`<dt>report</dt><dd>${html(i.file)}</dd>`);
    out.push('</dl>');
  }
  const head = c.implementations.map((i) => `<th scope="col">${html(i.name)}</th>`).join('');
  out.push('<h2>Totals</h2>', '<table>', `<thead><tr><th scope="col"></th>${head}</tr></thead>`, '<tbody>');
  for (const [label, f] of TOTAL_ROWS) out.push(`<tr><th scope="row">${html(label)}</th>${c.implementations.map((i) => `<td class="num">${f(i)}</td>`).join('')}</tr>`);
  out.push('</tbody>', '</table>');
  out.push('<h2>Cases</h2>', '<table>', `<thead><tr><th scope="col">case</th><th scope="col">title</th>${head}</tr></thead>`, '<tbody>');
  for (const r of c.rows) out.push(`<tr><td class="id">${html(r.id)}</td><td>${html(r.title)}</td>${r.cells.map((cell) => `<td class="cell ${CELL_CLASS[cell]}">${html(cell)}</td>`).join('')}</tr>`);
  out.push('</tbody>', '</table>');
  if (c.notes.length) out.push('<ul class="notes">', ...c.notes.map((n) => `<li>${html(n)}</li>`), '</ul>');
  out.push('</body>', '</html>');
  return out.join('\n') + '\n';
}
