/**
 * `json`: mocha's JSON shape at the top level (stats, tests, pending,
 * failures, passes), which CI tools read, and under `conformance` the run's
 * own data: provenance, the verdicts, and every case's result with its
 * failures and, for a case that did not pass, every exchange of its steps
 * up to the last failing one. Built from the result data with JSON.stringify
 * alone (then DEL and C1 controls written as \u escapes):
 * nothing is lost, rewritten or deduplicated away.
 * Described by spec/report.schema.json.
 */
import { isFailing, summarize, type CaseResult, type CheckFailure, type RunReport } from '../run/types.js';
import type { Reporter, ReporterDef } from './types.js';
import { caseExchanges, conformanceVerdict, gateVerdict } from './view.js';

export const REPORT_FORMAT = 'matrix-pushers-conformance/report/1';

function failureJson(f: CheckFailure): Record<string, unknown> {
  return { requirement: f.requirement, level: f.level, ground: f.ground, versions: f.versions, link: f.link, quote: f.quote, check: f.check, expected: f.expected ?? null, actual: f.actual ?? null, message: f.message, step: f.step, stepTitle: f.stepTitle, source: f.source };
}

export function resultJson(r: CaseResult): Record<string, unknown> {
  return {
    id: r.id,
    title: r.title,
    edition: r.edition,
    area: r.area,
    file: r.file,
    outcome: r.outcome,
    requirements: r.requirements,
    tags: r.tags,
    durationMs: Math.round(r.durationMs * 10) / 10,
    requests: r.requests,
    failures: r.failures.map(failureJson),
    warnings: r.warnings.map(failureJson),
    ...(r.error ? { error: { code: r.error.code, message: r.error.message, ...(r.error.step !== undefined ? { step: r.error.step } : {}) } } : {}),
    ...(r.outcome === 'skipped' || r.outcome === 'notrun' ? { skip: { code: r.skipCode ?? 'other', reason: r.skipReason ?? '', ...(r.skipCause ? { cause: r.skipCause } : {}) } } : {}),
    ...(r.expectation ? { expectation: r.expectation } : {}),
    ...(r.flaky ? { flaky: r.flaky } : {}),
    ...(r.periods ? { periods: r.periods } : {}),
    exchanges: caseExchanges(r),
    ...(r.exchangesOmitted ? { exchangesOmitted: r.exchangesOmitted } : {}),
  };
}

function mochaTest(r: CaseResult, strict: boolean): Record<string, unknown> {
  const failing = isFailing(r, strict);
  const first = r.failures[0] ?? (strict ? r.warnings[0] : undefined);
  const message = r.outcome === 'xpassed' ? `unexpectedly passing: listed as a known failure in ${r.expectation?.file ?? 'the expectations file'}` : r.error ? `${r.error.code}: ${r.error.message}` : first ? `${first.level} ${first.requirement}: ${first.message}` : '';
  return {
    title: `${r.id}: ${r.title}`,
    fullTitle: `edition ${r.edition} ${r.id}: ${r.title}`,
    file: r.file,
    duration: Math.round(r.durationMs),
    currentRetry: 0,
    err: failing ? { message, name: r.error ? 'TargetError' : 'ConformanceFailure', code: r.error?.code ?? first?.requirement ?? 'ERR_FAILED' } : {},
  };
}

export function reportJson(report: RunReport): Record<string, unknown> {
  const strict = report.meta.strict;
  const pendingOutcome = (r: CaseResult): boolean => r.outcome === 'skipped' || r.outcome === 'notrun' || r.outcome === 'xfailed';
  const tests = report.results.map((r) => mochaTest(r, strict));
  const failures = report.results.map((r, i) => [r, tests[i]] as const).filter(([r]) => isFailing(r, strict)).map(([, t]) => t);
  const pending = report.results.map((r, i) => [r, tests[i]] as const).filter(([r]) => pendingOutcome(r) && !isFailing(r, strict)).map(([, t]) => t);
  const passes = report.results.map((r, i) => [r, tests[i]] as const).filter(([r]) => !pendingOutcome(r) && !isFailing(r, strict)).map(([, t]) => t);
  const gate = gateVerdict(report, strict);
  const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
  return {
    stats: { suites: report.meta.editions.length, tests: tests.length, passes: passes.length, pending: pending.length, failures: failures.length, start: report.meta.startedAt, end: report.meta.finishedAt, duration: report.meta.durationMs },
    tests,
    pending,
    failures,
    passes,
    conformance: {
      format: REPORT_FORMAT,
      meta: report.meta,
      summary: summarize(report.results),
      verdict: { conforms: verdict.conforms, judged: verdict.judged, text: verdict.text, must: verdict.must, should: verdict.should, errored: verdict.errored },
      areas: verdict.areas,
      ...(gate ? { gate: { passed: gate.passed, text: gate.text, why: gate.why, notes: gate.notes } } : {}),
      results: report.results.map(resultJson),
    },
  };
}

/**
 * JSON text with DEL, the C1 controls and U+2028/U+2029 written as \u
 * escapes. JSON.stringify escapes C0 controls and lone surrogates but writes
 * these as they are, and a report written to stdout must not carry a raw
 * control character from the target to the terminal. Outside strings JSON
 * text is ASCII, so each replacement is inside a string and means the same.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const jsonReporter: ReporterDef = {
  name: 'json',
  description: "mocha's JSON shape, plus conformance.results: every case's outcome, failures with spec links, and exchanges",
  extension: 'json',
  create: (): Reporter => ({ finish: (report) => terminalSafeJson(reportJson(report)) + '\n' }),
};
