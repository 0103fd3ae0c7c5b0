/**
 * `junit`: JUnit XML as Jenkins' xunit plugin (junit-10.xsd) and other CI
 * systems read it. One testsuite per edition, one testcase per case, named by
 * the case id alone so a CI history follows it whatever its outcome:
 * <failure> for a verdict against the target, <error> for a case that reached
 * no verdict, <skipped> with the reason (expected failures included), and the
 * warnings and exchanges in <system-out>. Only characters XML 1.0 allows; long
 * values are cut at character boundaries.
 */
import { hostname } from 'node:os';
import { isFailing, type CaseResult, type RunReport } from '../run/types.js';
import { cutMessage, cutText, escapeXml } from '../text.js';
import { detailLines } from './terminal.js';
import type { Reporter, ReporterDef } from './types.js';
import { conformanceVerdict, gateVerdict, versionsLine } from './view.js';

const ATTR_CAP = 1000;
const TEXT_CAP = 256 * 1024;

const attr = (s: string): string => escapeXml(cutMessage(s, ATTR_CAP));
const text = (s: string): string => escapeXml(cutText(s, TEXT_CAP).text);
const seconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3);

function details(r: CaseResult, strict: boolean): string {
  const lines: string[] = [];
  for (const f of [...r.failures, ...(strict ? r.warnings : [])]) {
    lines.push(`${f.level} ${f.requirement} (${f.versions}, ${f.ground}) — step ${f.step} "${f.stepTitle}" (${f.source})`, `  ${f.message}`, `  spec: ${f.quote}`, `  ${f.link}`);
  }
  return lines.join('\n');
}

function systemOut(r: CaseResult, strict: boolean): string {
  const parts: string[] = [];
  if (!strict && r.warnings.length) {
    parts.push('Warnings (SHOULD, not counted without --strict):');
    for (const w of r.warnings) parts.push(`  SHOULD ${w.requirement} — step ${w.step}: ${w.message}`, `  ${w.link}`);
  }
  parts.push(...detailLines(r, ''));
  return parts.join('\n');
}

function testcase(r: CaseResult, strict: boolean): { xml: string; kind: 'pass' | 'failure' | 'error' | 'skipped' } {
  const open = `    <testcase name="${attr(r.id)}" classname="${attr(`pushers.${r.edition}`)}" time="${seconds(r.durationMs)}">`;
  let body = '';
  let kind: 'pass' | 'failure' | 'error' | 'skipped' = 'pass';
  if (r.outcome === 'skipped' || r.outcome === 'notrun') {
    kind = 'skipped';
    body = `\n      <skipped message="${attr(r.skipReason ?? 'skipped')}"/>`;
  } else if (r.outcome === 'xfailed') {
    kind = 'skipped';
    body = `\n      <skipped type="expected-failure" message="${attr(`expected failure: ${r.expectation?.reason ?? ''}`)}">${text(details(r, true) + (r.error ? `\n${r.error.code}: ${r.error.message}` : ''))}</skipped>`;
  } else if (r.outcome === 'xpassed') {
    kind = 'failure';
    body = `\n      <failure type="unexpectedly-passing" message="${attr(`listed as a known failure in ${r.expectation?.file ?? 'the expectations file'}, but passes now`)}"/>`;
  } else if (r.error && isFailing(r, strict)) {
    kind = 'error';
    body = `\n      <error type="${attr(r.error.code)}" message="${attr(r.error.message)}">${text(r.error.message + (r.expectation?.matched === false ? `\nfails differently than expected: ${r.expectation.mismatch ?? ''}` : ''))}</error>`;
  } else if (isFailing(r, strict)) {
    kind = 'failure';
    const first = r.failures[0] ?? r.warnings[0];
    body = `\n      <failure type="${attr(first ? `${first.level} ${first.requirement}` : 'failure')}" message="${attr(first?.message ?? '')}">${text(details(r, strict) + (r.expectation?.matched === false ? `\nfails differently than expected: ${r.expectation.mismatch ?? ''}` : ''))}</failure>`;
  }
  const out = systemOut(r, strict);
  if (out) body += `\n      <system-out>${text(out)}</system-out>`;
  return { xml: body ? `${open}${body}\n    </testcase>` : open.replace(/>$/, '/>'), kind };
}

/**
 * Text for an XML comment, which must not hold "--": one pass of
 * replace(/--/g) leaves "- --" of "---", so every dash that another follows
 * gets a space after it.
 */
function commentText(s: string): string {
  return escapeXml(s).replace(/-(?=-)/g, '- ');
}

export function junitXml(report: RunReport): string {
  const m = report.meta;
  const strict = m.strict;
  const suites: string[] = [];
  let all = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const edition of m.editions) {
    const rs = report.results.filter((r) => r.edition === edition);
    const cases = rs.map((r) => testcase(r, strict));
    const count = (k: string): number => cases.filter((c) => c.kind === k).length;
    const n = { tests: cases.length, failures: count('failure'), errors: count('error'), skipped: count('skipped') };
    all = { tests: all.tests + n.tests, failures: all.failures + n.failures, errors: all.errors + n.errors, skipped: all.skipped + n.skipped };
    const v = m.specVersions?.[edition];
    const props: Array<[string, string]> = [
      ['suite.version', m.suite.version],
      ['target', m.target],
      ['edition', edition],
      ['spec.version', v ? v.version : ''],
      ...(v?.note ? [['spec.version.note', v.note] as [string, string]] : []),
      ['level', strict ? 'SHOULD (--strict)' : 'MUST'],
      ['server', m.server ?? ''],
      ['versions', ((m.versions as { versions?: string[] } | undefined)?.versions ?? []).join(', ')],
      ['started', m.startedAt],
      ...(m.expectations ? [['expectations', m.expectations] as [string, string]] : []),
      ...(m.interrupted ? [['interrupted', 'true'] as [string, string]] : []),
    ];
    const time = rs.reduce((a, r) => a + r.durationMs, 0);
    suites.push(
      `  <testsuite name="${attr(`pushers ${edition}`)}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="${n.skipped}" time="${seconds(time)}" timestamp="${attr(m.startedAt)}" hostname="${attr(hostname())}" package="pushers.${attr(edition)}">\n    <properties>\n${props.map(([k, val]) => `      <property name="${attr(k)}" value="${attr(val)}"/>`).join('\n')}\n    </properties>\n${cases.map((c) => c.xml).join('\n')}\n  </testsuite>`,
    );
  }
  const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
  const gate = gateVerdict(report, strict);
  const summary = [verdict.text, ...(gate ? [gate.text] : []), versionsLine(report)].join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!-- ${commentText(summary)} -->\n<testsuites name="Matrix pushers conformance" tests="${all.tests}" failures="${all.failures}" errors="${all.errors}" time="${seconds(m.durationMs)}">\n${suites.join('\n')}\n</testsuites>\n`;
}

export const junitReporter: ReporterDef = {
  name: 'junit',
  description: 'JUnit XML (valid against junit-10.xsd): <failure> for verdicts, <error> for errors, <skipped> with reasons',
  extension: 'xml',
  create: (): Reporter => ({ finish: (report) => junitXml(report) }),
};
