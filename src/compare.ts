/**
 * Comparison of several JSON reports (`--reporter json`), case by case and
 * implementation by implementation, as a Markdown table (for a README or a
 * pull request) or a self-contained HTML page.
 *
 * A cell says what the server did in that case, whatever level the report ran
 * at: `pass`, `fail` (a MUST check failed), `warn` (only SHOULD checks
 * failed; a `--strict` report counts it as failing, the provenance line shows
 * the level), `error` (no verdict could be reached), `skipped` (not run),
 * `expected failure` (outcome `xfailed`: an expectations file lists the case
 * and it failed as recorded), and `—` when the report does not hold the case
 * at all. Cells are read from `conformance.results` alone. A
 * listed case the server now passes (outcome `xpassed`: the expectations entry
 * is stale, and the report fails for it) shows `pass`: the table is about the
 * servers, the report's own verdict about the expectations file.
 */
import { basename, extname } from 'node:path';
import { UsageError } from './errors.js';
import { describeErrors, getValidator } from './schemas.js';
import { editionIds } from './spec/requirements.js';

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
  /** Per edition, the version of its spec the report judged by. */
  specVersions: Record<string, string>;
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
  /** Per implementation, the skip code of a skipped cell (`version`: outside the version that report judged by). */
  skips: Array<string | undefined>;
}

export interface Comparison {
  implementations: Implementation[];
  /** The union of the cases of every report, sorted by edition (suite order) then id. */
  rows: ComparisonRow[];
  /** Things a reader should know to read the table fairly (different suite versions or levels, …). */
  notes: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ParsedCase {
  id: string;
  edition: string;
  title: string;
  cell: Exclude<Cell, '—'>;
  /** For a skipped cell: the skip code the report gives (`version`: outside the version that report judged by). */
  skipCode?: string;
}

interface ParsedReport {
  provenance: Provenance;
  cases: Map<string, ParsedCase>;
  mustFailures: number;
  shouldFailures: number;
}

/** What each outcome of `conformance.results` shows as. A stale expectations entry (xpassed) is a pass: the table is about the servers. */
const CELL_OF: Record<string, Exclude<Cell, '—'>> = { passed: 'pass', failed: 'fail', warned: 'warn', errored: 'error', skipped: 'skipped', notrun: 'skipped', xfailed: 'expected failure', xpassed: 'pass' };

/**
 * Checks that `report` is a conformance JSON report (valid against
 * spec/report.schema.json) and reads `conformance.results`. Every problem
 * found is returned, prefixed by `label`.
 */
function parseReport(label: string, report: unknown): ParsedReport | string[] {
  const bad = (what: string): string => `${label}: not a conformance JSON report (write one with \`conformance --reporter json:FILE\`): ${what}`;
  if (!isObject(report)) return [bad(`expected a JSON object, found ${Array.isArray(report) ? 'an array' : report === null ? 'null' : typeof report}`)];
  if (!isObject(report['conformance'])) return [bad(isObject(report['stats']) ? 'no `conformance` member (a plain mocha JSON report?)' : "neither mocha's `stats` nor a `conformance` member")];
  const validate = getValidator('report');
  if (!validate(report)) return describeErrors(validate.errors).slice(0, 10).map((e) => bad(e));
  const conf = report['conformance'] as Json;
  const m = conf['meta'] as Json;
  const suite = m['suite'] as { name: string; version: string };
  const versions = isObject(m['versions']) && Array.isArray(m['versions']['versions']) ? m['versions']['versions'].filter((v): v is string => typeof v === 'string') : [];
  const provenance: Provenance = {
    suite: { name: suite.name, version: suite.version },
    target: m['target'] as string,
    embedded: m['embedded'] === true,
    editions: m['editions'] as string[],
    level: m['strict'] === true ? 'strict' : 'MUST',
    versions,
    specVersions: Object.fromEntries(Object.entries((m['specVersions'] as Record<string, { version: string }>) ?? {}).map(([k, v]) => [k, v.version])),
  };
  if (typeof m['server'] === 'string') provenance.server = m['server'];
  if (typeof m['startedAt'] === 'string') provenance.startedAt = m['startedAt'];
  const cases = new Map<string, ParsedCase>();
  const problems: string[] = [];
  for (const r of conf['results'] as Json[]) {
    const id = r['id'] as string;
    if (cases.has(id)) problems.push(bad(`case ${id} appears twice in conformance.results`));
    const skip = isObject(r['skip']) && typeof r['skip']['code'] === 'string' ? r['skip']['code'] : undefined;
    cases.set(id, { id, edition: r['edition'] as string, title: r['title'] as string, cell: CELL_OF[r['outcome'] as string] ?? 'error', ...(skip ? { skipCode: skip } : {}) });
  }
  if (problems.length) return problems;
  const sum = conf['summary'] as Json;
  return { provenance, cases, mustFailures: sum['mustFailures'] as number, shouldFailures: sum['shouldFailures'] as number };
}

/**
 * How good a cell is, for regressions: higher is better; undefined where no
 * comparison makes sense. An error is below a failure: a case that reached a
 * verdict and now reaches none (a crash, a timeout) got worse.
 */
const RANK: Partial<Record<Cell, number>> = { pass: 3, warn: 2, 'expected failure': 1, fail: 0, error: -1 };

export interface Regression {
  id: string;
  title: string;
  from: Cell;
  to: Cell;
}

/**
 * Cases whose cell got worse from the first implementation of the comparison
 * to the last. A case that reached a verdict and is skipped now got worse (it
 * is no longer judged), except when the last report left it out for the
 * version it judged by: reports judged at different versions differ there by
 * design. Cases absent from either report, or skipped in the first, are aside.
 */
export function regressions(c: Comparison): Regression[] {
  if (c.implementations.length < 2) return [];
  const out: Regression[] = [];
  for (const r of c.rows) {
    const from = r.cells[0] as Cell;
    const to = r.cells[r.cells.length - 1] as Cell;
    const a = RANK[from];
    const b = RANK[to];
    const unjudged = to === 'skipped' && a !== undefined && r.skips[r.skips.length - 1] !== 'version';
    if (unjudged || (a !== undefined && b !== undefined && b < a)) out.push({ id: r.id, title: r.title, from, to });
  }
  return out;
}

/** The comparison with only the cases whose cells differ between implementations. */
export function changesOnly(c: Comparison): Comparison {
  const rows = c.rows.filter((r) => new Set(r.cells).size > 1);
  return { ...c, rows, notes: [...c.notes, `Only the ${rows.length} case(s) whose result differs are shown (--changes-only).`] };
}

function editionRank(edition: string): number {
  const ids = editionIds();
  const i = ids.indexOf(edition);
  return i === -1 ? ids.length : i;
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
  const rows: ComparisonRow[] = ordered.map((c) => ({ ...c, cells: parsed.map((p) => p.cases.get(c.id)?.cell ?? '—'), skips: parsed.map((p) => p.cases.get(c.id)?.skipCode) }));

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
  const judged = distinct((p) => JSON.stringify(p.specVersions));
  if (judged.length > 1) notes.push('The reports judged by different versions of the spec: a case left out for its version in one report is skipped there, and a rule may differ between versions.');
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
  const judged = Object.entries(p.specVersions).map(([e, v]) => `${e} ${v}`).join(', ');
  if (judged) fields.push(['judged by', judged]);
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
