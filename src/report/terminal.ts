/**
 * The terminal reporter (`spec`, the default): a header before the first
 * request, one line per case as it finishes, with a counter, and on a TTY a
 * status line (cases done, running, failed, elapsed) that is never written to
 * pipes or files. The closing part lists failures grouped by requirement (each
 * statement and link once), then each failing case's steps with their
 * exchange (once per step) and a reproduction, in suite order.
 *
 * Everything that came from the target is escaped: no control character it
 * sends reaches the terminal.
 */
import type { Plan } from '../run/runner.js';
import type { CaseExchange, CaseResult, RunReport, WaitEvent } from '../run/types.js';
import { cutMessage, cutUnits, escapeForTerminal, oneLine } from '../text.js';
import type { BeginInfo, Progress, Reporter, ReporterDef, ReporterOptions } from './types.js';
import { byRequirement, caseExchanges, conformanceVerdict, countsLine, failingSteps, gateVerdict, periodsText, reproduction, skipsByReason, versionsLine } from './view.js';

const SHOWN_BODY = 2000;
/** How much of a body of a step that did not fail is shown. */
const BRIEF_BODY = 400;

const LABEL: Record<CaseResult['outcome'], string> = { passed: 'pass ', failed: 'FAIL ', warned: 'warn ', errored: 'ERROR', skipped: 'skip ', notrun: 'stop ', xfailed: 'xfail', xpassed: 'XPASS' };
const COLOR: Record<CaseResult['outcome'], string> = { passed: '32', failed: '31', warned: '33', errored: '35', skipped: '36', notrun: '36', xfailed: '36', xpassed: '31' };

const SKIP_TITLES: Record<string, string> = {
  version: 'not in the version of the spec judged',
  'not-served': 'edition not served by the target',
  users: 'not enough accounts',
  interrupted: 'not run: the run was interrupted',
  step: 'the target cannot take part',
  target: 'the target cannot take part',
  'needs-gateway': 'push delivery not possible in this run',
  'retry-window': 'not judged: no retry within the window chosen with --retry-window',
  'gateway-tls': 'not judged: the target does not trust the mock gateway\'s certificate',
};

/** Seconds as shown in waits: whole seconds from ten on. */
const secs = (ms: number): string => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);
/** A failure text on one line, cut where it breaks no value it quotes. */
const message = (s: string, max: number): string => escapeForTerminal(cutMessage(s, max));

function indent(text: string, pad: string): string {
  return text.split('\n').map((l) => pad + l).join('\n');
}

/** A body as shown: escaped, cut, pretty when it is JSON of one line (unless `brief`: then on one line, shorter). */
function shownBody(body: string, cut: boolean | undefined, truncated: boolean, brief = false): string {
  let text = body;
  try {
    const v = JSON.parse(body) as unknown;
    if (!body.includes('\n') && body.length < 4000) text = JSON.stringify(v, null, brief ? undefined : 2);
  } catch {
    // not JSON: shown as it is
  }
  // Cut at a character boundary: half a surrogate pair would show as an escape of nothing.
  const c = cutUnits(text, brief ? BRIEF_BODY : SHOWN_BODY);
  const clipped = c.cut ? `${c.text}… (${[...text.slice(c.text.length)].length} more characters)` : text;
  return escapeForTerminal(clipped, true) + (truncated ? '\n… (the rest was not read: body over the size cap)' : cut ? '\n… (cut at 64 KiB in the results)' : '');
}

/**
 * One exchange of a case, in the list of its exchanges: a request the runner
 * sent (→) and its answer (←), or a request the target sent to a service of
 * the run and that service's answer. Headers and whole bodies only when
 * `full` (the exchanges of a failing step).
 */
function formatCaseExchange(x: CaseExchange, full: boolean, pad: string): string {
  const lines: string[] = [];
  const at = `+${Math.round(x.atMs)} ms`;
  const body = (b: string, cut?: boolean, truncated = false): string => indent(shownBody(b, cut, truncated, !full), '    ');
  lines.push(x.direction === 'from-target' ? `${at} the target → the mock ${x.service ?? 'service'}: ${x.request.method} ${oneLine(x.request.url, 2000)}` : `${at} → ${x.request.method} ${oneLine(x.request.url, 2000)}`);
  if (full) for (const [k, v] of Object.entries(x.request.headers)) lines.push(`    ${oneLine(k)}: ${oneLine(v)}`);
  if (x.request.body !== undefined && x.request.body !== '') lines.push(body(x.request.body, x.request.bodyCut));
  if (x.response) {
    const who = x.direction === 'from-target' ? `the ${x.service ?? 'service'} answered ` : '';
    lines.push(`  ← ${who}${x.response.status} (${Math.round(x.durationMs)} ms)${x.response.headers['content-type'] ? ` ${oneLine(x.response.headers['content-type'])}` : ''}`);
    if (full) for (const [k, v] of Object.entries(x.response.headers)) if (k !== 'content-type') lines.push(`    ${oneLine(k)}: ${oneLine(v)}`);
    if (x.response.body !== '') lines.push(body(x.response.body, x.response.bodyCut, x.response.truncated));
  } else lines.push(`  ← no answer${x.error ? `: ${oneLine(x.error, 300)}` : ''}`);
  return indent(lines.join('\n'), pad);
}

/** Every exchange of a case in order, under the step each happened during; the failing steps' in full. */
export function formatCaseExchanges(xs: readonly CaseExchange[], failing: ReadonlySet<number>, pad: string): string {
  const lines: string[] = [];
  let step: number | undefined;
  for (const x of xs) {
    if (x.step !== step) {
      step = x.step;
      lines.push(step === 0 ? `${pad}before the first step (what the users held):` : `${pad}step ${step}${x.stepTitle ? ` "${oneLine(x.stepTitle)}"` : ''}${failing.has(step) ? ' — failed here' : ''}:`);
    }
    lines.push(formatCaseExchange(x, failing.has(x.step), pad + '  '));
  }
  return lines.join('\n');
}

/** A case's failing steps with what failed there, then every exchange of its steps in order, then the curl lines that reproduce them. */
export function detailLines(r: CaseResult, pad: string): string[] {
  const out: string[] = [];
  const steps = failingSteps(r);
  // A step that errored is named by the ERROR line above it; those that failed checks are listed with them.
  for (const st of steps.filter((x) => x.failures.length > 0)) {
    out.push(`${pad}step ${st.step}${st.title ? ` "${oneLine(st.title)}"` : ''}${st.source ? ` (${st.source})` : ''}`);
    for (const f of st.failures) out.push(`${pad}  ${f.level} ${f.requirement}: ${message(f.message, 1000)}`);
  }
  const xs = caseExchanges(r);
  if (!xs.length) return out;
  out.push(`${pad}exchanges, in order${r.exchangesOmitted ? ` (the ${r.exchangesOmitted} oldest left out)` : ''}:`);
  out.push(formatCaseExchanges(xs, new Set(steps.map((st) => st.step)), `${pad}  `));
  const curls = reproduction(xs);
  if (curls.length === 1) out.push(`${pad}reproduce: ${oneLine(curls[0] as string, 20_000)}`);
  else if (curls.length > 1) {
    out.push(`${pad}reproduce: the requests in order:`);
    curls.forEach((c, n) => out.push(`${pad}  ${n + 1}. ${oneLine(c, 20_000)}`));
  }
  return out;
}

class TerminalReporter implements Reporter {
  private lines: string[] = [];
  private progress: Progress = { done: 0, total: 0, running: 0, failed: 0 };
  private readonly started = performance.now();
  private status = '';
  private timer: NodeJS.Timeout | undefined;
  private width = 3;
  /** Waits of more than a second going on now, by case and step, with when each began (performance.now()). */
  private readonly waits = new Map<string, { e: WaitEvent; since: number }>();

  constructor(
    private readonly options: ReporterOptions,
    private readonly statusLine: boolean,
  ) {}

  private paint(code: string, s: string): string {
    return this.options.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  /** Writes lines live (clearing the status line first), or keeps them for finish(). */
  private out(...lines: string[]): void {
    if (!this.options.write) {
      this.lines.push(...lines);
      return;
    }
    this.options.write((this.status ? '\r\x1b[K' : '') + lines.map((l) => l + '\n').join(''));
    this.status = '';
    this.drawStatus();
  }

  private drawStatus(): void {
    if (!this.statusLine || !this.options.write || this.progress.total === 0) return;
    const now = performance.now();
    const longest = [...this.waits.values()].sort((a, b) => b.e.maxMs - a.e.maxMs)[0];
    const waiting = longest ? ` · waiting ${secs(now - longest.since)} of up to ${secs(longest.e.maxMs)}: ${longest.e.caseId} step ${longest.e.step}${this.waits.size > 1 ? ` (+${this.waits.size - 1})` : ''}` : '';
    const s = `${this.progress.done}/${this.progress.total} done · ${this.progress.running} running · ${this.progress.failed} failed · ${((now - this.started) / 1000).toFixed(1)} s${waiting}`;
    this.options.write(`\r\x1b[K${this.paint('2', s)}`);
    this.status = s;
  }

  begin(info: BeginInfo): void {
    const editions = info.editions === 'auto' ? 'those the target advertises' : info.editions.join(', ');
    this.out(
      `${info.suite.name} ${info.suite.version}`,
      `target:   ${oneLine(info.target)}${info.embedded ? ' (bundled reference server)' : ''}`,
      `editions: ${editions} — level: ${info.strict ? 'SHOULD (--strict: SHOULD failures count)' : 'MUST (SHOULD failures are warnings)'}`,
      ...(info.expectations ? [`expected failures: ${oneLine(info.expectations)}`] : []),
      `started:  ${info.startedAt}`,
    );
  }

  plan(plan: Plan): void {
    const advertised = plan.preflight.advertised;
    const left = plan.left.size;
    this.width = String(plan.cases.length).length;
    this.out(
      `versions: ${advertised.length ? oneLine(advertised.join(', '), 400) : '(none)'}${plan.preflight.server ? ` — server: ${oneLine(plan.preflight.server, 100)}` : ''}`,
      `judged:   ${Object.entries(plan.versions).map(([e, v]) => `${e} by ${v.version}${v.note ? ` (${oneLine(v.note)})` : ''}`).join('; ')}`,
      ...Object.entries(plan.notServed).map(([e, why]) => `not served: edition ${e}: ${oneLine(why)}; its cases are skipped`),
      `cases:    ${plan.cases.length} selected${left ? `, ${left} left out before running (see Skipped)` : ''}`,
      '',
    );
    this.progress.total = plan.cases.length;
    if (this.statusLine && this.options.write) {
      this.timer = setInterval(() => this.drawStatus(), 250);
      this.timer.unref();
    }
  }

  caseDone(r: CaseResult, p: Progress): void {
    this.progress = p;
    const counter = `[${String(p.done).padStart(this.width)}/${p.total}]`;
    const first = r.failures[0] ?? r.warnings[0];
    const why = r.error ? ` — ${r.error.code}: ${message(r.error.message, 300)}` : first ? ` — ${first.level} ${first.requirement}: ${message(first.message, 300)}` : r.skipReason ? ` — ${oneLine(r.skipReason, 300)}` : '';
    const periods = periodsText(r);
    const after = r.outcome === 'passed' ? ` (${Math.round(r.durationMs)} ms${periods ? `; ${periods}` : ''})` : periods ? ` (${periods})` : '';
    this.out(`${counter} ${this.paint(COLOR[r.outcome], LABEL[r.outcome])} ${r.id}${why}${after}`);
  }

  /** A wait of more than a second: one line as it starts (live, and in the report file), and the status line while it lasts. */
  waiting(e: WaitEvent): void {
    const key = `${e.caseId}\n${e.step}`;
    if (e.phase === 'end') {
      this.waits.delete(key);
      this.drawStatus();
      return;
    }
    this.waits.set(key, { e, since: performance.now() - e.elapsedMs });
    this.out(`${' '.repeat(this.width * 2 + 3)} wait ${e.caseId} step ${e.step}: ${oneLine(e.what, 300)} — up to ${secs(e.maxMs)}`);
  }

  notice(text: string): void {
    this.out(oneLine(text));
  }

  finish(report: RunReport): string {
    if (this.timer) clearInterval(this.timer);
    const strict = report.meta.strict;
    const out: string[] = [];
    const failing = (r: CaseResult): boolean => r.failures.length > 0 || (strict && r.warnings.length > 0);
    const groups = byRequirement(report.results, strict, failing);
    if (groups.length) {
      out.push('', this.paint('1', `Failures, by requirement (${groups.length})`), '');
      for (const g of groups) {
        out.push(`${this.paint(g.level === 'MUST' ? '31' : '33', g.level)} ${g.requirement} — ${g.versions} · ${g.ground}`);
        out.push(`  ${g.quote}`);
        out.push(`  ${g.link}`);
        for (const c of g.cases) for (const f of c.failures) out.push(`  · ${c.result.id} step ${f.step}: ${message(f.message, 400)}`);
        out.push('');
      }
    }
    const warned = strict ? [] : report.results.filter((r) => r.warnings.length > 0 && r.failures.length === 0 && !r.error);
    if (warned.length) {
      const wg = byRequirement(warned, true);
      out.push('', this.paint('1', `Warnings: SHOULD requirements not met (${wg.length}; not counted, --strict counts them)`), '');
      for (const g of wg) {
        out.push(`SHOULD ${g.requirement} — ${g.versions} · ${g.ground}`, `  ${g.quote}`, `  ${g.link}`);
        for (const c of g.cases) for (const f of c.failures) out.push(`  · ${c.result.id} step ${f.step}: ${message(f.message, 400)}`);
        out.push('');
      }
    }
    const detailed = report.results.filter((r) => failing(r) || r.error || r.outcome === 'xpassed' || r.warnings.length > 0);
    if (detailed.length) {
      out.push('', this.paint('1', 'Details'), '');
      detailed.forEach((r, i) => {
        out.push(`${i + 1}) ${r.id} — ${r.title} (${r.file})${r.expectation ? ` [listed: ${oneLine(r.expectation.reason, 200)}]` : ''}`);
        if (r.outcome === 'xpassed') out.push(`   listed in ${r.expectation?.file ?? 'the expectations file'} as a known failure, but passes now: remove it from the file`);
        if (r.expectation?.matched === false) out.push(`   fails differently than expected: ${oneLine(r.expectation.mismatch ?? '', 400)}`);
        if (r.error) out.push(`   ERROR ${r.error.code}: ${message(r.error.message, 1000)}`);
        out.push(...detailLines(r, '   '));
        if (r.flaky) out.push(`   outcomes across repetitions: ${r.flaky.join(', ')}`);
        out.push('');
      });
      out.push('To reproduce, export the variables the curl lines use as fresh users on the target: $USER1_TOKEN, … their access tokens and $USER1_ID, … their user ids.');
    }
    const skips = skipsByReason(report.results);
    if (skips.size) {
      out.push('', this.paint('1', 'Skipped'), '');
      for (const [code, rs] of skips) {
        out.push(`${SKIP_TITLES[code] ?? 'skipped'} (${rs.length}):`);
        for (const r of rs) out.push(`  - ${r.id}: ${oneLine(r.skipReason ?? '', 300)}`);
      }
    }
    const expected = report.results.filter((r) => r.outcome === 'xfailed');
    if (expected.length) {
      out.push('', this.paint('1', `Expected failures (${report.meta.expectations ?? 'the expectations file'})`), '');
      for (const r of expected) out.push(`  - ${r.id}: ${oneLine(r.expectation?.reason ?? '', 300)}${r.expectation?.link ? ` <${oneLine(r.expectation.link)}>` : ''}`);
    }
    out.push('', countsLine(report), `judged:   ${escapeForTerminal(versionsLine(report))}`, `duration: ${(report.meta.durationMs / 1000).toFixed(1)} s${report.meta.rateLimitedMs ? ` (requests waited out rate limits during ${((report.meta.rateLimitedWallMs ?? report.meta.rateLimitedMs) / 1000).toFixed(1)} s of it)` : ''}`);
    if (report.meta.interrupted) out.push('interrupted: the run was stopped; the cases not finished are listed as not run');
    const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
    out.push(this.paint(verdict.conforms ? (verdict.areas.some((a) => a.notJudged > 0) ? '33' : '32') : '31', escapeForTerminal(verdict.text)));
    const gate = gateVerdict(report, strict);
    if (gate) {
      out.push(this.paint(gate.passed ? '32' : '31', escapeForTerminal(gate.text)));
      for (const w of gate.why) out.push(`  - ${w.id}: ${oneLine(w.reason, 400)}`);
      for (const n of gate.notes) out.push(`  · ${n.id}: ${oneLine(n.note, 400)}`);
    }
    out.push('');
    const text = out.join('\n');
    if (this.options.write) return (this.status ? '\r\x1b[K' : '') + text;
    return this.lines.map((l) => l + '\n').join('') + text;
  }
}

export const terminalReporter: ReporterDef = {
  name: 'spec',
  description: 'human-readable, live: a line per case as it finishes, then failures by requirement (default)',
  extension: 'txt',
  create: (options) => new TerminalReporter(options, options.write !== undefined && options.color),
};
