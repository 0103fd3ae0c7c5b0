/**
 * What every reporter derives the same way from the result data: the two
 * verdicts (does the target conform; does the gate of an expectations file
 * pass), failures grouped by requirement, and counts. Reporters format; this
 * module decides nothing about formats.
 */
import { isFailing, summarize, type CaseExchange, type CaseResult, type CheckFailure, type Exchange, type RunReport } from '../run/types.js';


export interface ConformanceVerdict {
  /** Every case judged passed at the chosen level, and at least one case was judged. */
  conforms: boolean;
  /** At least one selected case was judged (ran to a verdict). */
  judged: boolean;
  /** Cases with a MUST check failing. */
  must: number;
  /** Cases with only SHOULD checks failing. */
  should: number;
  errored: number;
  /** Per edition and area: how many cases were judged, and what could not be, with why. */
  areas: AreaVerdict[];
  /** The line reporters print: `conformance: …`. */
  text: string;
}

/** What a run judged of one area of one edition. */
export interface AreaVerdict {
  edition: string;
  area: string;
  /** "the pushers API", from the run's data (the id when the report does not name it). */
  title: string;
  /** Cases of the area in the report. */
  cases: number;
  /** Cases that ran to a verdict (passed, failed, warned, errored, known or stale failures). */
  judged: number;
  /** Cases left out by the user's choice (--no-delivery) or for the version judged: never counted against the run. */
  leftOut: number;
  /** Cases not judged for a reason of the target's (or of what the run could offer it), or because the edition is not served. */
  notJudged: number;
  /** Of those, the ones whose edition the target does not serve. */
  notServed: number;
  /** The commonest reason among the cases not judged, in one sentence. */
  reason?: string;
  /** Cases not run: the run was interrupted. */
  notRun: number;
}

const LEFT_OUT = new Set(['choice', 'version']);

/** A skip reason as one clause: without the step it came from (the report lists that per case). */
const clause = (reason: string): string => reason.replace(/^not judged: /, '').replace(/\s*\(step \d+ "[^]*$/, '').replace(/[.;\s]+$/, '');

/** Per edition and area, in the order the report holds them: what was judged and what was not. */
export function areaVerdicts(results: readonly CaseResult[], titles: Record<string, { title: string }> = {}): AreaVerdict[] {
  const out = new Map<string, AreaVerdict & { reasons: Map<string, number> }>();
  for (const r of results) {
    const area = r.area ?? 'pushers';
    const key = `${r.edition}/${area}`;
    let a = out.get(key);
    if (!a) out.set(key, (a = { edition: r.edition, area, title: titles[area]?.title ?? area, cases: 0, judged: 0, leftOut: 0, notJudged: 0, notServed: 0, notRun: 0, reasons: new Map() }));
    a.cases++;
    if (r.outcome === 'notrun') a.notRun++;
    else if (r.outcome !== 'skipped') a.judged++;
    else if (LEFT_OUT.has(r.skipCause ?? '')) a.leftOut++;
    else {
      a.notJudged++;
      if (r.skipCause === 'not-served') a.notServed++;
      const why = clause(r.skipReason ?? 'skipped');
      a.reasons.set(why, (a.reasons.get(why) ?? 0) + 1);
    }
  }
  return [...out.values()].map(({ reasons, ...a }) => {
    const top = [...reasons].sort((x, y) => y[1] - x[1])[0];
    return { ...a, ...(top ? { reason: top[0] } : {}) };
  });
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
const areaName = (a: AreaVerdict): string => `${a.title} (${a.edition})`;

/**
 * "push delivery (v1) NOT JUDGED: 9 of 9 cases skipped, the target refused …"
 * when none of an area's cases was judged; "push rules (v1): 3 of 45 cases NOT
 * JUDGED (skipped), …" when some were, so that the line is not read as the
 * whole area left out. An edition the target does not serve is one clause for
 * all its areas.
 */
function notJudgedTexts(areas: readonly AreaVerdict[]): string[] {
  const out: string[] = [];
  const unserved = new Set<string>();
  for (const a of areas) {
    if (a.notJudged === 0) continue;
    if (a.notServed === a.notJudged) {
      if (!unserved.has(a.edition)) out.push(`edition ${a.edition} NOT JUDGED: the target does not serve it`);
      unserved.add(a.edition);
    } else {
      const of = a.cases - a.leftOut;
      const why = a.reason ?? 'for a reason of the target';
      out.push(a.notJudged === of ? `${areaName(a)} NOT JUDGED: ${a.notJudged} of ${plural(of, 'case')} skipped, ${why}` : `${areaName(a)}: ${a.notJudged} of ${plural(of, 'case')} NOT JUDGED (skipped), ${why}`);
    }
  }
  return out;
}

/**
 * Whether the target conforms at the chosen level, on what was judged,
 * whatever an expectations file says: known failures are still failures of
 * the target. The text names each area judged and each area, or part of
 * one, that could not be, with why: a run is never greener than what it judged.
 */
export function conformanceVerdict(results: readonly CaseResult[], strict: boolean, titles?: Record<string, { title: string }>): ConformanceVerdict {
  let must = 0;
  let should = 0;
  let errored = 0;
  for (const r of results) {
    if (r.error && r.outcome !== 'skipped' && r.outcome !== 'notrun') errored++;
    else if (r.failures.length) must++;
    else if (r.warnings.length) should++;
  }
  const areas = areaVerdicts(results, titles);
  const judged = areas.some((a) => a.judged > 0);
  const conforms = judged && must === 0 && errored === 0 && (!strict || should === 0);
  const level = strict ? 'SHOULD (--strict)' : 'MUST';
  const judgedText = areas.filter((a) => a.judged > 0).map((a) => `${a.title} (${a.edition}, ${plural(a.judged, 'case')})`).join(', ');
  const missing = notJudgedTexts(areas);
  let text: string;
  if (!judged) text = `conformance: NOT JUDGED: no selected case could be judged${missing.length ? `: ${missing.join('; ')}` : ' (every one was left out: see Skipped)'}`;
  else {
    const parts = [`${plural(must, 'case')} failing at MUST`, `${should} at SHOULD only${strict ? '' : ' (warnings)'}`, `${errored} errored`];
    text = `conformance: ${conforms ? 'conforms' : 'DOES NOT CONFORM'} at level ${level}: ${parts.join(', ')} — judged: ${judgedText}${missing.length ? `; ${missing.join('; ')}` : ''}`;
  }
  return { conforms, judged, must, should, errored, areas, text };
}

export interface GateVerdict {
  passed: boolean;
  /** Why it failed: one entry per case that fails the gate. */
  why: Array<{ id: string; reason: string }>;
  /** Entries the run could say nothing about at the version judged: reported, never failing (--update-expectations drops them). */
  notes: Array<{ id: string; note: string }>;
  text: string;
}

/**
 * The gate of an expectations file: every listed case fails (or is not
 * judged) exactly as recorded, and nothing else fails or goes unjudged.
 */
export function gateVerdict(report: RunReport, strict: boolean): GateVerdict | undefined {
  if (!report.meta.expectations) return undefined;
  const why: Array<{ id: string; reason: string }> = [];
  const notes: Array<{ id: string; note: string }> = [];
  for (const r of report.results) {
    if (r.expectation?.unused) notes.push({ id: r.id, note: r.expectation.unused });
    if (r.outcome === 'xpassed') why.push({ id: r.id, reason: 'listed as a known failure, but passes now: remove it from the expectations file' });
    else if (r.expectation && r.expectation.matched === false) why.push({ id: r.id, reason: r.outcome === 'skipped' || r.expectation.skipped !== undefined ? (r.expectation.mismatch ?? 'differs from its entry') : `fails differently than expected: ${r.expectation.mismatch ?? ''}` });
    else if (r.outcome === 'skipped' && r.skipCause === 'target' && r.expectation?.matched !== true) why.push({ id: r.id, reason: `not judged: ${r.skipReason ?? 'skipped'} (if the target cannot take part, record it with --update-expectations)` });
    else if (isFailing(r, strict)) why.push({ id: r.id, reason: r.error ? `errored (${r.error.code})` : 'a new failure' });
  }
  const passed = why.length === 0;
  return { passed, why, notes, text: `gate: ${passed ? 'passed' : `failed (${why.length} case${why.length === 1 ? '' : 's'}: ${summarizeWhy(why)})`}${notes.length ? `, ${notes.length} entr${notes.length === 1 ? 'y' : 'ies'} not run at the version judged` : ''} — ${report.meta.expectations}` };
}

function summarizeWhy(why: ReadonlyArray<{ reason: string }>): string {
  const kinds = new Map<string, number>();
  for (const w of why) {
    const k = w.reason.startsWith('listed as a known') ? 'unexpectedly passing' : w.reason.startsWith('not judged') ? 'not judged' : w.reason.startsWith('listed as not judged') ? 'judged now' : w.reason.startsWith('errored') ? 'errored' : w.reason === 'a new failure' ? 'new failures' : 'failing differently';
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** The exit code the results call for: 0 conforms (or the gate passes), 1 otherwise, 130 when interrupted. */
export function exitCode(report: RunReport, strict: boolean): number {
  if (report.meta.interrupted) return 130;
  const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
  // Nothing judged is never a pass: 3 when the target (or what the run could offer it) stood in the way, 2 when every case was left out.
  if (!verdict.judged) return verdict.areas.some((a) => a.notJudged > 0) ? 3 : 2;
  const gate = gateVerdict(report, strict);
  if (gate) return gate.passed ? 0 : 1;
  return verdict.conforms ? 0 : 1;
}

export interface RequirementGroup {
  requirement: string;
  level: CheckFailure['level'];
  quote: string;
  link: string;
  versions: string;
  ground: CheckFailure['ground'];
  /** Per case: its failures of this requirement. */
  cases: Array<{ result: CaseResult; failures: CheckFailure[] }>;
}

/** Failures (and, when `withWarnings`, SHOULD warnings) grouped by requirement, in suite order of first appearance. */
export function byRequirement(results: readonly CaseResult[], withWarnings: boolean, include: (r: CaseResult) => boolean = () => true): RequirementGroup[] {
  const groups = new Map<string, RequirementGroup>();
  for (const r of results) {
    if (!include(r)) continue;
    for (const f of [...r.failures, ...(withWarnings ? r.warnings : [])]) {
      let g = groups.get(f.requirement);
      if (!g) groups.set(f.requirement, (g = { requirement: f.requirement, level: f.level, quote: f.quote, link: f.link, versions: f.versions, ground: f.ground, cases: [] }));
      let c = g.cases.find((x) => x.result === r);
      if (!c) g.cases.push((c = { result: r, failures: [] }));
      c.failures.push(f);
    }
  }
  return [...groups.values()];
}

/** The exchanges of a case's failing steps, once per step, in step order. */
export function exchangesOf(r: CaseResult): Array<{ step: number; title: string; exchange: Exchange }> {
  const out = new Map<number, { step: number; title: string; exchange: Exchange }>();
  for (const f of [...r.failures, ...r.warnings]) if (f.exchange && !out.has(f.step)) out.set(f.step, { step: f.step, title: f.stepTitle, exchange: f.exchange });
  if (r.error?.exchange && r.error.step !== undefined && !out.has(r.error.step)) out.set(r.error.step, { step: r.error.step, title: '', exchange: r.error.exchange });
  return [...out.values()].sort((a, b) => a.step - b.step);
}

/**
 * The exchanges a report shows for a case: every exchange of its steps up to
 * the last failing one when the result keeps them (pokes to the mock gateway
 * and its answers among them), else the exchanges of its failing steps.
 */
export function caseExchanges(r: CaseResult): CaseExchange[] {
  if (r.exchanges?.length) return r.exchanges;
  return exchangesOf(r).map((x) => ({ step: x.step, ...(x.title ? { stepTitle: x.title } : {}), direction: 'to-target', atMs: 0, request: x.exchange.request, ...(x.exchange.response ? { response: x.exchange.response } : {}), durationMs: x.exchange.durationMs, curl: x.exchange.curl }));
}

/** The steps of a case that failed or errored, each with what failed there, in step order. */
export function failingSteps(r: CaseResult): Array<{ step: number; title: string; source?: string; failures: CheckFailure[]; error?: string }> {
  const out = new Map<number, { step: number; title: string; source?: string; failures: CheckFailure[]; error?: string }>();
  for (const f of [...r.failures, ...r.warnings]) {
    let s = out.get(f.step);
    if (!s) out.set(f.step, (s = { step: f.step, title: f.stepTitle, source: f.source, failures: [] }));
    s.failures.push(f);
  }
  if (r.error?.step !== undefined) {
    const s = out.get(r.error.step) ?? { step: r.error.step, title: '', failures: [] };
    out.set(r.error.step, { ...s, error: `${r.error.code}: ${r.error.message}` });
  }
  return [...out.values()].sort((a, b) => a.step - b.step);
}

/** The curl lines that reproduce a case's exchanges, in order (what the target sent to the run's services is not reproduced). */
export function reproduction(xs: readonly CaseExchange[]): string[] {
  return xs.filter((x) => x.step > 0 && x.curl !== undefined).map((x) => x.curl as string);
}

/** One line of counts. */
/** How reports name a kind of wait; a kind a step adds later shows as itself. */
const PERIOD_NAMES: Record<string, string> = { quiet: 'quiet period', wait: 'wait', window: 'retry window' };

/**
 * The waits a case's verdict rests on, in words ("quiet period 156 ms at step
 * 10"): how long it looked for what must not arrive, or waited for what must.
 * Undefined for a case that waited for nothing. Reports show it beside the case.
 */
export function periodsText(r: CaseResult): string | undefined {
  if (!r.periods?.length) return undefined;
  return r.periods.map((p) => `${PERIOD_NAMES[p.kind] ?? p.kind} ${p.ms >= 10_000 ? `${Math.round(p.ms / 100) / 10} s` : `${Math.round(p.ms)} ms`} at step ${p.step}`).join(', ');
}

export function countsLine(report: RunReport): string {
  const s = summarize(report.results);
  const parts = [`${s.passed} passed`, `${s.failed} failed`, `${s.warned} with SHOULD warnings`, `${s.errored} errored`, `${s.skipped} skipped`];
  if (s.notrun) parts.push(`${s.notrun} not run`);
  if (s.xfailed) parts.push(`${s.xfailed} expected failures`);
  if (s.xpassed) parts.push(`${s.xpassed} unexpectedly passing`);
  return `${s.total} cases: ${parts.join(', ')}`;
}

/** The version line: which version of each edition's spec the run judged by. */
export function versionsLine(report: RunReport): string {
  return Object.entries(report.meta.specVersions ?? {})
    .map(([e, v]) => `${e} judged by ${v.version}${v.from === 'flag' ? ' (--spec-version)' : v.from === 'advertised' ? ' (the newest the target advertises)' : ''}${v.note ? ` — ${v.note}` : ''}`)
    .join('; ');
}

/** Why cases were skipped, grouped: reason code → cases. */
export function skipsByReason(results: readonly CaseResult[]): Map<string, CaseResult[]> {
  const out = new Map<string, CaseResult[]>();
  for (const r of results) {
    if (r.outcome !== 'skipped' && r.outcome !== 'notrun') continue;
    const k = r.skipCode ?? 'other';
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}
