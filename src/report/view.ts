/**
 * What every reporter derives the same way from the result data: the two
 * verdicts (does the target conform; does the gate of an expectations file
 * pass), failures grouped by requirement, and counts. Reporters format; this
 * module decides nothing about formats.
 */
import { isFailing, summarize, type CaseExchange, type CaseResult, type CheckFailure, type Exchange, type RunReport } from '../run/types.js';

export interface ConformanceVerdict {
  conforms: boolean;
  /** Cases with a MUST check failing. */
  must: number;
  /** Cases with only SHOULD checks failing. */
  should: number;
  errored: number;
  /** The line reporters print: `conformance: …`. */
  text: string;
}

/**
 * Whether the target conforms at the chosen level, whatever an expectations
 * file says: known failures are still failures of the target.
 */
export function conformanceVerdict(results: readonly CaseResult[], strict: boolean): ConformanceVerdict {
  let must = 0;
  let should = 0;
  let errored = 0;
  for (const r of results) {
    if (r.error && r.outcome !== 'skipped' && r.outcome !== 'notrun') errored++;
    else if (r.failures.length) must++;
    else if (r.warnings.length) should++;
  }
  const conforms = must === 0 && errored === 0 && (!strict || should === 0);
  const parts = [`${must} case${must === 1 ? '' : 's'} failing at MUST`, `${should} at SHOULD only${strict ? '' : ' (warnings)'}`, `${errored} errored`];
  return { conforms, must, should, errored, text: `conformance: ${conforms ? 'conforms' : 'DOES NOT CONFORM'} at level ${strict ? 'SHOULD (--strict)' : 'MUST'}: ${parts.join(', ')}` };
}

export interface GateVerdict {
  passed: boolean;
  /** Why it failed: one entry per case that fails the gate. */
  why: Array<{ id: string; reason: string }>;
  text: string;
}

/** The gate of an expectations file: every listed case fails exactly as recorded, and nothing else fails. */
export function gateVerdict(report: RunReport, strict: boolean): GateVerdict | undefined {
  if (!report.meta.expectations) return undefined;
  const why: Array<{ id: string; reason: string }> = [];
  for (const r of report.results) {
    if (r.outcome === 'xpassed') why.push({ id: r.id, reason: 'listed as a known failure, but passes now: remove it from the expectations file' });
    else if (r.expectation && r.expectation.matched === false) why.push({ id: r.id, reason: `fails differently than expected: ${r.expectation.mismatch ?? ''}` });
    else if (isFailing(r, strict)) why.push({ id: r.id, reason: r.error ? `errored (${r.error.code})` : 'a new failure' });
  }
  const passed = why.length === 0;
  return { passed, why, text: `gate: ${passed ? 'passed' : `failed (${why.length} case${why.length === 1 ? '' : 's'}: ${summarizeWhy(why)})`} — ${report.meta.expectations}` };
}

function summarizeWhy(why: ReadonlyArray<{ reason: string }>): string {
  const kinds = new Map<string, number>();
  for (const w of why) {
    const k = w.reason.startsWith('listed') ? 'unexpectedly passing' : w.reason.startsWith('fails differently') ? 'failing differently' : w.reason.startsWith('errored') ? 'errored' : 'new failures';
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** The exit code the results call for: 0 conforms (or the gate passes), 1 otherwise, 130 when interrupted. */
export function exitCode(report: RunReport, strict: boolean): number {
  if (report.meta.interrupted) return 130;
  const gate = gateVerdict(report, strict);
  if (gate) return gate.passed ? 0 : 1;
  return conformanceVerdict(report.results, strict).conforms ? 0 : 1;
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

/** A case exchange's one-line summary: who sent what, and the answer. */
export function exchangeLine(x: CaseExchange): string {
  const answer = x.response ? `${x.response.status} (${Math.round(x.durationMs)} ms)` : `no answer${x.error ? `: ${x.error}` : ''}`;
  return x.direction === 'from-target' ? `the target → mock ${x.service ?? 'service'}: ${x.request.method} ${x.request.url} ← answered ${answer}` : `${x.request.method} ${x.request.url} → ${answer}`;
}

/** One line of counts. */
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
