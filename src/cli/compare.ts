/** `conformance compare [NAME=]REPORT.json...`: JSON reports side by side, as Markdown (and HTML). */
import { readFileSync, writeFileSync } from 'node:fs';
import { changesOnly, compareReports, comparisonHtml, comparisonMarkdown, defaultReportName, regressions, type NamedReport } from '../compare.js';
import { UsageError } from '../errors.js';
import type { Io } from './io.js';

export interface CompareSettings {
  files: string[];
  html?: string;
  output?: string;
  changesOnly: boolean;
  failOnRegression: boolean;
}

export function compareSettings(values: Record<string, unknown>, positionals: string[]): CompareSettings {
  const problems: string[] = [];
  if (positionals.length === 0) problems.push('compare needs one or more JSON reports (written with --reporter json:FILE)');
  if (values['fail-on-regression'] === true && positionals.length < 2) problems.push('--fail-on-regression compares the first report with the last: give two or more');
  if (problems.length) throw new UsageError(problems);
  return {
    files: positionals,
    ...(typeof values['html'] === 'string' ? { html: values['html'] } : {}),
    ...(typeof values['output'] === 'string' ? { output: values['output'] } : {}),
    changesOnly: values['changes-only'] === true,
    failOnRegression: values['fail-on-regression'] === true,
  };
}

export function compareCommand(s: CompareSettings, io: Io): number {
  const reports: NamedReport[] = s.files.map((arg) => {
    const eq = arg.indexOf('=');
    const file = eq > 0 ? arg.slice(eq + 1) : arg;
    let report: unknown;
    try {
      report = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError([`${file}: cannot read a JSON report (${err instanceof SyntaxError ? 'not JSON' : ((err as NodeJS.ErrnoException).code ?? String(err))})`]);
    }
    return { name: eq > 0 ? arg.slice(0, eq) : defaultReportName(file, report), report, file };
  });
  const full = compareReports(reports);
  const comparison = s.changesOnly ? changesOnly(full) : full;
  const markdown = comparisonMarkdown(comparison);
  if (s.output) writeFileSync(s.output, markdown);
  else io.out(markdown);
  if (s.html) writeFileSync(s.html, comparisonHtml(comparison));
  if (s.failOnRegression) {
    const worse = regressions(full);
    for (const r of worse) io.err(`conformance: regression: ${r.id} was ${r.from}, is ${r.to}\n`);
    if (worse.length) {
      io.err(`conformance: ${worse.length} case(s) got worse from ${full.implementations[0]?.name ?? 'the first report'} to ${full.implementations[full.implementations.length - 1]?.name ?? 'the last'}\n`);
      return 1;
    }
  }
  return 0;
}
