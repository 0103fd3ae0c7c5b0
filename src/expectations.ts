import { readFileSync, writeFileSync } from 'node:fs';
import { isMap, LineCounter, parseDocument, stringify } from 'yaml';
import { ConformanceError } from './errors.js';
import { describeErrors, getValidator } from './schemas.js';
import { isFailing, type CaseResult, type RunReport } from './run/types.js';

export interface Expectation {
  reason: string;
  link?: string;
}

export interface Expectations {
  file: string;
  entries: ReadonlyMap<string, Expectation>;
}

/** Reads and validates an expectations file; every problem at once, as file:line. */
export function loadExpectations(file: string, knownCaseIds: ReadonlySet<string>): Expectations {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConformanceError('ERR_EXPECTATIONS', `${file}: cannot read the expectations file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new ConformanceError('ERR_EXPECTATIONS', `${file}:${lines.linePos(first.pos[0]).line}: YAML syntax: ${first.message.split('\n')[0]}`);
  const data = (doc.toJS() as unknown) ?? {};
  const lineOfKey = (key: string): number => {
    const contents = doc.contents;
    if (!isMap(contents)) return 1;
    const pair = contents.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
    const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
    return range ? lines.linePos(range[0]).line : 1;
  };
  const problems: string[] = [];
  const validate = getValidator('expectations');
  if (!validate(data)) {
    for (const [i, e] of (validate.errors ?? []).entries()) {
      const key = e.instancePath.split('/')[1] ?? (e.params as { propertyName?: string }).propertyName ?? '';
      problems.push(`${file}:${lineOfKey(key)}: ${describeErrors(validate.errors)[i] ?? e.message}`);
    }
  }
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    for (const id of Object.keys(data)) {
      if (!knownCaseIds.has(id)) problems.push(`${file}:${lineOfKey(id)}: ${id} is not a case of this suite (renamed or removed?): remove it from the file`);
    }
  }
  if (problems.length) throw new ConformanceError('ERR_EXPECTATIONS', problems.join('\n'));
  return { file, entries: new Map(Object.entries(data as Record<string, Expectation>)) };
}

/**
 * Marks listed cases that fail as expected failures, and listed cases that
 * pass as unexpectedly passing (which fails the run: the file is stale).
 * Cases the run did not select are left alone.
 */
export function applyExpectations(report: RunReport, expectations: Expectations, strict: boolean): void {
  for (const r of report.results) {
    const e = expectations.entries.get(r.id);
    if (!e || r.outcome === 'skipped') continue;
    r.expectation = { ...e, file: expectations.file };
    r.outcome = isFailing(r, strict) ? 'xfailed' : 'xpassed';
  }
  report.meta.expectations = expectations.file;
}

function firstProblem(r: CaseResult): string {
  if (r.error) return r.error.message;
  const f = r.failures[0] ?? r.warnings[0];
  return f ? `${f.requirement}: ${f.message}` : 'fails';
}

/**
 * Writes the cases failing now, keeping the reason and link of entries that
 * are still failing and drafting a reason for new ones (edit it to name the
 * real behaviour).
 */
export function writeExpectations(file: string, report: RunReport, strict: boolean, previous?: Expectations): number {
  const out: Record<string, Expectation> = {};
  for (const r of report.results) {
    const failing = r.outcome === 'xfailed' || (r.outcome !== 'xpassed' && isFailing(r, strict));
    if (!failing) continue;
    const old = previous?.entries.get(r.id);
    out[r.id] = old ?? { reason: `TODO describe the behaviour — ${firstProblem(r)}`.slice(0, 300) };
  }
  const header = `# Known failures: case id -> the real behaviour behind it (and an upstream link where one exists).\n# Written by conformance --update-expectations against ${report.meta.target}${report.meta.server ? ` (${report.meta.server})` : ''}, level ${strict ? 'strict' : 'MUST'}.\n`;
  writeFileSync(file, header + (Object.keys(out).length ? stringify(out, { lineWidth: 0 }) : '{}\n'));
  return Object.keys(out).length;
}
