import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';
import { isFailing, summarize, type CaseResult, type RunReport } from '../run/types.js';
import { formatCaseProblems, formatFailure, formatHeader } from './format.js';

export const REPORTERS = ['spec', 'json', 'junit', 'tap'] as const;
export type ReporterName = (typeof REPORTERS)[number];

const MOCHA_REPORTER: Record<ReporterName, string> = { spec: 'spec', json: 'json', junit: 'xunit', tap: 'tap' };

export interface RenderOptions {
  reporter: ReporterName;
  strict: boolean;
  color?: boolean;
}

function caseTitle(r: CaseResult, strict: boolean): string {
  let title = `${r.id}: ${r.title}`;
  if (r.outcome === 'warned' && !strict) title += ` [warning: SHOULD ${[...new Set(r.warnings.map((w) => w.requirement))].join(', ')}]`;
  if (r.outcome === 'errored') title += ' [error]';
  if (r.outcome === 'xfailed') title += ` [expected failure: ${r.expectation?.reason ?? ''}]`;
  if (r.outcome === 'xpassed') title += ' [unexpectedly passing]';
  if (r.flaky) title += ' [flaky]';
  return title;
}

/** The error a failing case hands to mocha: the full failure text, no stack frames, the data kept for JSON. */
function caseError(r: CaseResult, strict: boolean): Error {
  const message = r.outcome === 'xpassed'
    ? `unexpectedly passing: ${r.id} is listed in ${r.expectation?.file ?? 'the expectations file'} as a known failure ("${r.expectation?.reason ?? ''}") but now passes; remove it from the file`
    : formatCaseProblems(r, strict);
  // Mocha prints the first line of a message after five spaces and the rest as they are.
  const err = new Error(message.split('\n').join('\n   ')) as Error & Record<string, unknown>;
  err.name = r.outcome === 'errored' ? 'TargetError' : 'ConformanceFailure';
  err.stack = err.message;
  err['outcome'] = r.outcome;
  err['failures'] = r.failures.map((f) => ({ requirement: f.requirement, level: f.level, check: f.check, expected: f.expected, actual: f.actual, message: f.message, step: f.step, source: f.source, quote: f.quote, curl: f.exchange?.curl }));
  if (strict) err['warnings'] = r.warnings.map((f) => ({ requirement: f.requirement, level: f.level, check: f.check, message: f.message, step: f.step, source: f.source, quote: f.quote, curl: f.exchange?.curl }));
  if (r.error) err['error'] = { code: r.error.code, message: r.error.message };
  return err;
}

/**
 * Renders results through mocha's own reporters, so the formats are exactly
 * the ones CI systems and tools already read. Cases ran earlier (concurrently);
 * here each becomes a mocha test that replays its recorded verdict, in suite
 * order. Returns the text instead of printing it: the CLI decides where it goes.
 */
export async function render(report: RunReport, options: RenderOptions): Promise<string> {
  const { strict } = options;
  const tmp = mkdtempSync(join(tmpdir(), 'conformance-report-'));
  const outputFile = join(tmp, 'out');
  const fileBased = options.reporter === 'json' || options.reporter === 'junit';
  const mocha = new Mocha({
    reporter: MOCHA_REPORTER[options.reporter],
    reporterOptions: fileBased ? { output: outputFile, suiteName: 'Matrix pushers conformance' } : {},
    color: options.color ?? false,
    // Replaying a verdict takes no time; the durations shown are the cases' own and may be long.
    timeout: 0,
  });
  (mocha.options as Record<string, unknown>)['reporterOption'] = mocha.options.reporterOptions;
  for (const edition of report.meta.editions) {
    const suite = Mocha.Suite.create(mocha.suite, `edition ${edition}`);
    for (const r of report.results.filter((x) => x.edition === edition)) {
      const test = new Mocha.Test(caseTitle(r, strict), function (this: Mocha.Context) {
        // Mocha has no "expected failure": it is shown as pending, apart from passes and failures.
        if (r.outcome === 'skipped' || r.outcome === 'xfailed') this.skip();
        if (isFailing(r, strict)) throw caseError(r, strict);
      });
      // Report how long the case really took, not how long replaying it did.
      Object.defineProperty(test, 'duration', { get: () => Math.round(r.durationMs), set: () => undefined, configurable: true });
      (test as unknown as { file: string }).file = r.file;
      suite.addTest(test);
    }
  }

  const chunks: string[] = [];
  const Base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
  const savedLog = Base.consoleLog;
  const savedWrite = process.stdout.write;
  Base.consoleLog = (...args: unknown[]) => void chunks.push(format(...args) + '\n');
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  try {
    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      // The stats are filled in as the replay ends; show how long the run itself took instead.
      const stats = runner.stats as unknown as Record<string, unknown> | undefined;
      if (stats) Object.defineProperty(stats, 'duration', { get: () => Math.round(report.meta.durationMs), set: () => undefined, configurable: true, enumerable: true });
    });
  } finally {
    Base.consoleLog = savedLog;
    process.stdout.write = savedWrite;
  }
  try {
    if (options.reporter === 'json') {
      const json = JSON.parse(readFileSync(outputFile, 'utf8')) as Record<string, unknown>;
      return JSON.stringify({ ...json, conformance: conformanceSection(report, strict) }, null, 2) + '\n';
    }
    if (options.reporter === 'junit') return junitFixups(readFileSync(outputFile, 'utf8'), report, strict);
    if (options.reporter === 'tap') return chunks.join('') + tapSummary(report, strict);
    return formatHeader(report.meta) + '\n' + chunks.join('') + specSummary(report, strict);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Extra data in the JSON report: provenance, per-level counts and warnings. Mocha's own keys are untouched. */
function conformanceSection(report: RunReport, strict: boolean): unknown {
  return {
    meta: report.meta,
    summary: summarize(report.results),
    failing: report.results.filter((r) => isFailing(r, strict)).map((r) => r.id),
    warnings: report.results.flatMap((r) => r.warnings.map((w) => ({ case: r.id, requirement: w.requirement, level: w.level, message: w.message, quote: w.quote, source: w.source, curl: w.exchange?.curl }))),
    errors: report.results.filter((r) => r.error).map((r) => ({ case: r.id, ...r.error, exchange: undefined })),
    skipped: report.results.filter((r) => r.outcome === 'skipped').map((r) => ({ case: r.id, reason: r.skipReason })),
    expectedFailures: report.results.filter((r) => r.outcome === 'xfailed').map((r) => r.id),
    expected: report.results.filter((r) => r.outcome === 'xfailed').map((r) => ({ case: r.id, reason: r.expectation?.reason, link: r.expectation?.link, failures: r.failures.concat(r.warnings).map((f) => `${f.level} ${f.requirement}: ${f.message}`), error: r.error?.message })),
    unexpectedlyPassing: report.results.filter((r) => r.outcome === 'xpassed').map((r) => r.id),
    flaky: report.results.filter((r) => r.flaky).map((r) => ({ case: r.id, outcomes: r.flaky })),
  };
}

function counts(report: RunReport): string {
  const s = summarize(report.results);
  const extra = [s.xfailed ? `${s.xfailed} expected failures` : '', s.xpassed ? `${s.xpassed} unexpectedly passing` : ''].filter(Boolean).join(', ');
  return `${s.total} cases: ${s.passed} passed, ${s.failed} failed (MUST), ${s.warned} with SHOULD warnings, ${s.errored} errored, ${s.skipped} skipped${extra ? ', ' + extra : ''} — ${s.mustFailures} MUST and ${s.shouldFailures} SHOULD check failures`;
}

function specSummary(report: RunReport, strict: boolean): string {
  const lines: string[] = [];
  const expected = report.results.filter((r) => r.outcome === 'xfailed');
  if (expected.length) {
    lines.push('', `  Expected failures (listed in ${report.meta.expectations ?? 'the expectations file'})`, '');
    for (const r of expected) lines.push(`  - ${r.id}: ${r.expectation?.reason ?? ''}${r.expectation?.link ? ` <${r.expectation.link}>` : ''}`);
  }
  const skipped = report.results.filter((r) => r.outcome === 'skipped');
  if (skipped.length) {
    lines.push('', '  Skipped', '');
    for (const r of skipped) lines.push(`  - ${r.id}: ${r.skipReason ?? ''}`);
  }
  const warned = report.results.filter((r) => r.warnings.length > 0 && r.outcome !== 'xfailed');
  if (!strict && warned.length) {
    lines.push('', `  Warnings: SHOULD requirements not met (not counted; --strict counts them)`, '');
    warned.forEach((r, i) => {
      lines.push(`  ${i + 1}) ${r.id}: ${r.title}`);
      for (const w of r.warnings) lines.push('     ' + formatFailure(w).split('\n').join('\n     '));
      lines.push('');
    });
  }
  if (report.results.some((r) => isFailing(r, strict) && r.outcome !== 'xpassed')) {
    lines.push('', '  To reproduce a failure, export the variables its curl commands use ($ALICE_TOKEN, …) as access tokens of fresh users on the target.');
  }
  lines.push('', `  ${counts(report)}`, `  verdict: ${report.results.some((r) => isFailing(r, strict)) ? 'DOES NOT CONFORM' : 'conforms'} at level ${strict ? 'strict' : 'MUST'}`, '');
  return lines.join('\n') + '\n';
}

function tapSummary(report: RunReport, strict: boolean): string {
  const lines = [...formatHeader(report.meta).split('\n').map((l) => `# ${l}`), `# ${counts(report)}`];
  if (!strict) for (const r of report.results) for (const w of r.warnings) lines.push(`# warning ${r.id}: SHOULD ${w.requirement}: ${w.message}`);
  return lines.join('\n') + '\n';
}

function xmlAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * mocha's xunit reporter counts every failed test as an error. In a
 * conformance report the difference matters: failures are verdicts on the
 * server, errors are exchanges that gave no verdict. Provenance goes into
 * <properties>, where CI systems show it.
 */
function junitFixups(xml: string, report: RunReport, strict: boolean): string {
  const failing = report.results.filter((r) => isFailing(r, strict));
  const errors = failing.filter((r) => r.outcome === 'errored').length;
  const m = report.meta;
  const props: Array<[string, string]> = [
    ['suite.version', m.suite.version],
    ['target', m.target],
    ['editions', m.editions.join(',')],
    ['level', strict ? 'strict' : 'MUST'],
    ['server', m.server ?? ''],
    ['versions', JSON.stringify((m.versions as { versions?: unknown } | undefined)?.versions ?? [])],
    ['started', m.startedAt],
  ];
  const properties = `<properties>\n${props.map(([k, v]) => `<property name="${k}" value="${xmlAttr(v)}"/>`).join('\n')}\n</properties>`;
  return xml.replace(/<testsuite ([^>]*)>/, (_all, attrs: string) => `<testsuite ${attrs.replace(/failures="\d+"/, `failures="${failing.length - errors}"`).replace(/errors="\d+"/, `errors="${errors}"`).replace(/time="[\d.]+"/, `time="${(m.durationMs / 1000).toFixed(3)}"`)}>\n${properties}`);
}
