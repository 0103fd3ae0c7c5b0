/**
 * `tap`: TAP version 13. One test point per case, described by its id; known
 * failures are `# TODO`, skipped cases `# SKIP` with the reason; each case that
 * did not pass cleanly gets one YAML diagnostics block. Every string in a
 * block is a double-quoted scalar on one line, and comments are escaped, so
 * nothing the target sent can start a line of its own.
 */
import { yaml as yamlLib } from '../yaml.js';
import { isFailing, type CaseResult, type CheckFailure, type RunReport } from '../run/types.js';
import { cutText, oneLine } from '../text.js';
import type { Reporter, ReporterDef } from './types.js';
import { caseExchanges, conformanceVerdict, countsLine, gateVerdict, versionsLine } from './view.js';

const CAP = 16 * 1024;

function failure(f: CheckFailure): Record<string, unknown> {
  return { requirement: f.requirement, level: f.level, versions: f.versions, ground: f.ground, link: f.link, step: f.step, message: f.message, expected: cutText(JSON.stringify(f.expected) ?? 'null', CAP).text, actual: cutText(JSON.stringify(f.actual) ?? 'null', CAP).text, source: f.source };
}

/**
 * The yaml package escapes C0 controls in double-quoted scalars, but writes
 * DEL, C1 controls (NEL, CSI, …), U+2028/U+2029, lone surrogates, U+FFFE/
 * U+FFFF and format characters (bidi overrides, zero-width characters) as
 * they are: characters a terminal may act on, a TAP consumer may read as a
 * line break, or that reorder what a reader sees. Every string of a block is
 * a double-quoted scalar (keys are this module's own names), so each such
 * character is replaced by its escape, which the scalar reads back.
 */
const NON_PRINTABLE = /[\u007f-\u009f\u2028\u2029\ud800-\udfff\ufffe\uffff\p{Cf}]/gu;

function escapeNonPrintable(yaml: string): string {
  return yaml.replace(NON_PRINTABLE, (c) => {
    const code = c.codePointAt(0) as number;
    if (code <= 0x9f) return `\\x${code.toString(16)}`;
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

function block(r: CaseResult, strict: boolean): string | undefined {
  const data: Record<string, unknown> = { outcome: r.outcome, file: r.file };
  if (r.failures.length) data['failures'] = r.failures.map(failure);
  if (r.warnings.length) data[strict ? 'failures_should' : 'warnings'] = r.warnings.map(failure);
  if (r.error) data['error'] = { code: r.error.code, message: cutText(r.error.message, CAP).text };
  if (r.expectation) data['expectation'] = { reason: r.expectation.reason, ...(r.expectation.mismatch ? { mismatch: r.expectation.mismatch } : {}) };
  if (r.flaky) data['outcomes'] = r.flaky;
  const xs = caseExchanges(r);
  if (xs.length)
    data['exchanges'] = xs.map((x) => ({
      step: x.step,
      at_ms: Math.round(x.atMs),
      ...(x.direction === 'from-target' ? { from: `the target, to the mock ${x.service ?? 'service'}` } : {}),
      request: `${x.request.method} ${x.request.url}`,
      ...(x.request.body !== undefined ? { request_body: cutText(x.request.body, CAP).text } : {}),
      status: x.response?.status ?? null,
      response: cutText(x.response?.body ?? '', CAP).text,
      ...(x.error !== undefined ? { error: x.error } : {}),
      ...(x.curl !== undefined ? { curl: x.curl } : {}),
    }));
  if (r.exchangesOmitted) data['exchanges_omitted'] = r.exchangesOmitted;
  if (Object.keys(data).length <= 2) return undefined;
  const yaml = escapeNonPrintable(yamlLib().stringify(data, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0, minContentWidth: 0, doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER }));
  return ['  ---', ...yaml.trimEnd().split('\n').map((l) => `  ${l}`), '  ...'].join('\n');
}

export function tapText(report: RunReport): string {
  const strict = report.meta.strict;
  const m = report.meta;
  const lines = ['TAP version 13', `1..${report.results.length}`];
  lines.push(`# ${m.suite.name} ${m.suite.version} — target ${oneLine(m.target)}${m.server ? ` (server ${oneLine(m.server, 100)})` : ''}`);
  lines.push(`# ${oneLine(versionsLine(report), 400)} — level ${strict ? 'SHOULD (--strict)' : 'MUST'}`);
  report.results.forEach((r, i) => {
    const n = i + 1;
    let line: string;
    if (r.outcome === 'skipped' || r.outcome === 'notrun') line = `ok ${n} - ${r.id} # SKIP ${oneLine(r.skipReason ?? 'skipped', 300)}`;
    else if (r.outcome === 'xfailed') line = `not ok ${n} - ${r.id} # TODO expected failure: ${oneLine(r.expectation?.reason ?? '', 300)}`;
    else line = `${isFailing(r, strict) ? 'not ok' : 'ok'} ${n} - ${r.id}`;
    lines.push(line);
    const b = r.outcome === 'skipped' || r.outcome === 'notrun' ? undefined : block(r, strict);
    if (b) lines.push(b);
  });
  const gate = gateVerdict(report, strict);
  lines.push(`# ${countsLine(report)}`, `# ${conformanceVerdict(report.results, strict, report.meta.areas).text}`, ...(gate ? [`# ${oneLine(gate.text, 400)}`] : []), ...(m.interrupted ? ['# interrupted: the cases not finished are listed as skipped'] : []));
  return lines.join('\n') + '\n';
}

export const tapReporter: ReporterDef = {
  name: 'tap',
  description: 'TAP version 13, with a YAML diagnostics block per case that did not pass cleanly',
  extension: 'tap',
  create: (): Reporter => ({ finish: (report) => tapText(report) }),
};
