import { yaml } from './yaml.js';
import { ConformanceError } from './errors.js';
import { describeErrors, getValidator } from './schemas.js';
import { isFailing, type CaseResult, type RunReport } from './run/types.js';
import { cutUnits, escapeForTerminal } from './text.js';
import { INPUT_CAP, InputTooLarge, readInputFile, writeReportFile } from './report/files.js';
import { INCOMPLETE_EXPECTATIONS } from './report/incomplete.js';

/**
 * Aliases an expectations file may use (`*name`, repeating an anchored
 * entry): the files this suite writes use none, and each alias may stand for
 * a whole tree, so a few nested ones expand a small file into gigabytes.
 */
export const MAX_ALIASES = 16;


export interface Expectation {
  reason: string;
  link?: string;
  /** The requirements the case fails on; absent in files written before they were recorded. */
  requirements?: string[];
  /** The error code, for a case known to reach no verdict. */
  error?: string;
  /** The skip code, for a case the target is known not to take part in (it refuses http:// gateways, it has no rooms). */
  skipped?: string;
}

export interface Expectations {
  file: string;
  entries: ReadonlyMap<string, Expectation>;
}

/** Reads and validates an expectations file; every problem at once, as file:line. */
export function loadExpectations(file: string, knownCaseIds: ReadonlySet<string>): Expectations {
  let text: string;
  try {
    text = readInputFile(file);
  } catch (err) {
    if (err instanceof InputTooLarge) throw new ConformanceError('ERR_EXPECTATIONS', `${file}: the expectations file is over ${INPUT_CAP / (1024 * 1024)} MiB; refused`);
    throw new ConformanceError('ERR_EXPECTATIONS', `${file}: cannot read the expectations file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (text.startsWith(INCOMPLETE_EXPECTATIONS.split('\n')[0] as string)) throw new ConformanceError('ERR_EXPECTATIONS', `${file}: left incomplete by a run of --update-expectations that did not finish; it records nothing (run it again, or restore the file)`);
  const { isMap, LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new ConformanceError('ERR_EXPECTATIONS', `${file}:${lines.linePos(first.pos[0]).line}: YAML syntax: ${first.message.split('\n')[0]}`);
  let data: unknown;
  try {
    data = (doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown) ?? {};
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    throw new ConformanceError('ERR_EXPECTATIONS', `${file}: more YAML aliases than the ${MAX_ALIASES} an expectations file may use; refused`);
  }
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
  report.results = report.results.map((r) => withExpectation(r, expectations, strict));
  report.meta.expectations = expectations.file;
}

/**
 * One result as the expectations file sees it (a copy; the result itself is
 * left alone), for the live view as each case ends and for the final report.
 */
export function withExpectation(result: CaseResult, expectations: Expectations, strict: boolean): CaseResult {
  const e = expectations.entries.get(result.id);
  if (!e || result.outcome === 'notrun' || result.expectation) return result;
  const r: CaseResult = { ...result };
  const entry = { ...e, file: expectations.file };
  if (result.outcome === 'skipped') {
    // A case left out by the user's own choice says nothing of its entry.
    if (result.skipCause === 'choice') return result;
    if (result.skipCause === 'version') {
      const version = /^not in (\S+):/.exec(result.skipReason ?? '')?.[1];
      r.expectation = { ...entry, unused: `not run${version ? ` at ${version}` : ' at the version judged'}: the entry says nothing here (--update-expectations drops it)` };
      return r;
    }
    const listed = e.skipped !== undefined;
    r.expectation = { ...entry, matched: listed, ...(listed ? {} : { mismatch: `not judged: ${result.skipReason ?? 'skipped'}, where the entry records ${e.error ? `the error ${e.error}` : 'a failure'}` }) };
    return r;
  }
  if (e.skipped !== undefined) {
    r.expectation = { ...entry, matched: false, mismatch: `listed as not judged (${e.skipped}), but judged now (${r.outcome}): update the expectations file` };
    return r;
  }
  if (!isFailing(r, strict)) {
    r.expectation = entry;
    r.outcome = 'xpassed';
    return r;
  }
  const mismatch = howItDiffers(r, e, strict);
  r.expectation = { ...entry, matched: mismatch === undefined, ...(mismatch ? { mismatch } : {}) };
  // A case failing as recorded is an expected failure; one failing otherwise keeps its outcome and fails the gate.
  if (mismatch === undefined) r.outcome = 'xfailed';
  return r;
}

/** The requirements a failing case fails on, at the level of the run. */
function failedRequirements(r: CaseResult, strict: boolean): string[] {
  return [...new Set([...r.failures, ...(strict ? r.warnings : [])].map((f) => f.requirement))].sort();
}

/** How a failing case differs from its entry, or undefined when it fails as recorded. */
function howItDiffers(r: CaseResult, e: Expectation, strict: boolean): string | undefined {
  if (r.error) {
    if (e.error === undefined && e.requirements === undefined) return undefined;
    if (e.error === r.error.code) return undefined;
    return `errored with ${r.error.code} (${cutUnits(r.error.message, 200).text}), where ${e.error ? `the entry records ${e.error}` : `the entry records failing ${e.requirements?.join(', ')}`}`;
  }
  if (e.requirements === undefined) return e.error ? `fails ${failedRequirements(r, strict).join(', ')}, where the entry records the error ${e.error}` : undefined;
  const got = failedRequirements(r, strict);
  const want = [...e.requirements].sort();
  if (got.join('\n') === want.join('\n')) return undefined;
  const extra = got.filter((x) => !want.includes(x));
  const gone = want.filter((x) => !got.includes(x));
  return [extra.length ? `fails ${extra.join(', ')} too` : '', gone.length ? `no longer fails ${gone.join(', ')}` : ''].filter(Boolean).join('; ');
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
  const { text, count } = expectationsText(report, strict, previous);
  writeReportFile(file, text);
  return count;
}

/** The text writeExpectations writes, and how many cases it lists. */
export function expectationsText(report: RunReport, strict: boolean, previous?: Expectations): { text: string; count: number } {
  const out: Record<string, Expectation> = {};
  for (const r of report.results) {
    const failing = r.outcome === 'xfailed' || (r.outcome !== 'xpassed' && isFailing(r, strict));
    const old = previous?.entries.get(r.id);
    // A case not judged for a reason of the target's is recorded as such, with the reason.
    if (r.outcome === 'skipped' && (r.skipCause === 'target' || r.skipCause === 'not-served')) {
      out[r.id] = { reason: old?.skipped !== undefined ? old.reason : cutUnits(r.skipReason ?? 'not judged', 300).text, ...(old?.link ? { link: old.link } : {}), skipped: r.skipCode ?? 'target' };
      continue;
    }
    // A case left out by choice, or not reached, keeps its entry: this run says nothing about it. One outside the version judged loses it.
    if ((r.outcome === 'skipped' && r.skipCause !== 'version') || r.outcome === 'notrun') {
      if (old) out[r.id] = old;
      continue;
    }
    if (!failing) continue;
    const recorded: Omit<Expectation, 'reason'> = r.error ? { error: r.error.code } : { requirements: failedRequirements(r, strict) };
    // A drafted reason quotes the target: written with its controls escaped, like the header's comment below.
    out[r.id] = { reason: old?.reason ?? cutUnits(`TODO describe the behaviour — ${escapeForTerminal(firstProblem(r))}`, 300).text, ...(old?.link ? { link: old.link } : {}), ...recorded };
  }
  // The target's Server header goes into a comment: every character a YAML 1.1 reader takes for a line break (NEL, LS, PS too) is escaped.
  const header = `# Known failures: case id -> the real behaviour behind it (and an upstream link where one exists).\n# Written by conformance --update-expectations against ${escapeForTerminal(report.meta.target)}${report.meta.server ? ` (${escapeForTerminal(report.meta.server)})` : ''}, level ${strict ? 'strict' : 'MUST'}.\n`;
  return { text: header + (Object.keys(out).length ? yaml().stringify(out, { lineWidth: 0 }) : '{}\n'), count: Object.keys(out).length };
}
