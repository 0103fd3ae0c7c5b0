/**
 * Run and report: what `conformance run` does, as a library call another
 * program can embed. It loads and checks everything before the first request
 * (cases, the expectations file, the report paths), runs the cases, applies
 * the expectations file, writes every report and the updated expectations,
 * and says which exit code the results call for. It writes nothing to the
 * process's streams and handles no signal: the caller gives a writer for the
 * live report and an AbortSignal.
 */
import { rmSync } from 'node:fs';
import { UsageError } from './errors.js';
import { applyExpectations, loadExpectations, withExpectation, writeExpectations, type Expectations } from './expectations.js';
import { HarWriter } from './http/har.js';
import { Redactor } from './http/redact.js';
import type { RateLimitWait } from './http/transport.js';
import { prepareReportFiles, writeReportFile } from './report/files.js';
import { incompletePaths } from './report/incomplete.js';
import { reporter } from './report/index.js';
import { exitCode } from './report/view.js';
import { allKinds } from './kinds.js';
import type { Kinds } from './run/kinds.js';
import { run, selectCases, type RunOptions } from './run/runner.js';
import { loadSuite } from './run/suite.js';
import type { RunReport } from './run/types.js';
import { editionIds } from './spec/requirements.js';
import { escapeForTerminal } from './text.js';
import { suiteInfo } from './version.js';

/** One report of the run: a reporter by name, written to `file`, or live to the caller's writer when it names none. */
export interface ReportRequest {
  name: string;
  file?: string;
}

export interface ConformanceOptions extends Omit<RunOptions, 'suite' | 'kinds' | 'editions' | 'onStart' | 'onResult' | 'onWait' | 'onExchange' | 'redactor'> {
  /** The step and expectation kinds of the cases (default: the core's and the areas', src/kinds.ts). */
  kinds?: Kinds;
  /** Editions to run (default: 'auto', those the target advertises). */
  editions?: RunOptions['editions'];
  /** The suite's cases; default: the bundled ones, or those in `cases`. */
  suite?: RunOptions['suite'];
  /** A folder of cases to read instead of the bundled ones. */
  cases?: string;
  /** The reports to write (default: the `spec` report, live). */
  reports?: readonly ReportRequest[];
  /** Where a report that names no file is written as the run goes (a terminal). */
  write?: (text: string) => void;
  /** ANSI colours in the live report. */
  color?: boolean;
  /** An expectations file: the gate. */
  expectations?: string;
  /** Write the cases failing or not judged now to this file. */
  updateExpectations?: string;
  /** Write every exchange of the run to this file, as HAR. */
  trace?: string;
  /** One-line notes for the user (a wait for a rate limit, the expectations written): stderr, for the CLI. */
  notice?: (line: string) => void;
}

export interface ConformanceOutcome {
  report: RunReport;
  /** 0 judged and conforms (or the gate passes), 1 fails, 2 a report could not be written or nothing was left to judge, 3 nothing could be judged, 130 interrupted. */
  exitCode: number;
  /** Reports that could not be written at the end (a full disk): the others are. */
  unwritten: string[];
}

/** Says when the run waits a noticeable time for a rate limit; short back-offs pass silently. */
function rateLimitText(w: RateLimitWait): string | undefined {
  if (w.waitMs < 1000) return undefined;
  let path = w.url;
  try {
    path = new URL(w.url).pathname;
  } catch {
    // keep the URL as it is
  }
  return `conformance: rate-limited: waiting ${(w.waitMs / 1000).toFixed(1)} s (${w.source}) before sending ${w.method} ${escapeForTerminal(path)} again`;
}

const errorText = (err: unknown): string => escapeForTerminal((err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'unknown error'));

/** The filters' own problem: no case of the suite matches them. */
export function noCaseMatches(grep: string | undefined, editions: readonly string[] | 'auto', asked?: string): UsageError {
  return new UsageError([`no case matches${grep ? ` --grep ${escapeForTerminal(grep)}` : ''}${asked ? ` in --edition ${asked}` : editions === 'auto' ? '' : ` in the editions selected (${editions.join(', ')})`}`]);
}

/**
 * Runs the suite against `options.target` and writes its reports. Problems
 * found before the first request (a filter that selects nothing, a bad
 * expectations file, a report path that cannot be written) are thrown as
 * ConformanceErrors; so is a target that cannot be used at all.
 */
export async function runAndReport(options: ConformanceOptions): Promise<ConformanceOutcome> {
  const editions = options.editions ?? 'auto';
  const kinds = options.kinds ?? allKinds;
  const suite = options.suite ?? loadSuite({ kinds, ...(options.cases ? { dir: options.cases } : {}) });
  if (selectCases(suite, editions === 'auto' ? editionIds() : editions, options.grep).length === 0) throw noCaseMatches(options.grep, editions);
  const expectations: Expectations | undefined = options.expectations ? loadExpectations(options.expectations, new Set(suite.cases.map((c) => c.id))) : undefined;
  const requests = options.reports?.length ? options.reports : [{ name: 'spec' }];
  const strict = options.strict ?? false;
  const reporters = requests.map((q) => {
    const def = reporter(q.name);
    if (!def) throw new UsageError([`no reporter ${q.name}`]);
    const live = q.file === undefined && options.write !== undefined;
    return { file: q.file, r: def.create({ strict, color: live && options.color === true && q.name === 'spec', ...(live && q.name === 'spec' ? { write: options.write as (t: string) => void } : {}) }) };
  });
  // Every report path holds an incomplete report from now until the run writes the real one (report/files.ts):
  // a run that ends any other way (a crash, a kill) leaves no earlier report claiming what it did not judge.
  const begun = { suite: suiteInfo(), target: options.target, embedded: options.embedded ?? false, editions, strict, ...(options.expectations ? { expectations: options.expectations } : {}), startedAt: new Date().toISOString() };
  const prepared = prepareReportFiles(incompletePaths(begun, requests, options.updateExpectations, options.trace));
  if (prepared.problems.length) throw new UsageError(prepared.problems.map((p) => `cannot write ${escapeForTerminal(p.path)} (${p.code})`));

  const redactor = new Redactor();
  const trace = options.trace ? new HarWriter(options.trace, redactor, suiteInfo()) : undefined;
  try {
    const startedAt = new Date().toISOString();
    for (const { r } of reporters) r.begin?.({ suite: suiteInfo(), target: options.target, embedded: options.embedded ?? false, editions, strict, ...(options.expectations ? { expectations: options.expectations } : {}), startedAt });
    let report: RunReport;
    try {
      report = await run({
        ...options,
        editions,
        suite,
        kinds,
        redactor,
        onStart: (p) => {
          for (const { r } of reporters) r.plan?.(p);
        },
        onResult: (result, progress) => {
          // Shown as the gate will judge it: a known failure is not a FAIL line.
          const shown = expectations ? withExpectation(result, expectations, strict) : result;
          for (const { r } of reporters) r.caseDone?.(shown, progress);
        },
        onRateLimit: (w) => {
          options.onRateLimit?.(w);
          const text = rateLimitText(w);
          if (text) options.notice?.(text);
        },
        onWait: (w) => {
          for (const { r } of reporters) r.waiting?.(w);
        },
        ...(trace ? { onExchange: (x) => trace.record(x) } : {}),
      });
    } catch (err) {
      // The run could not start: leave no report it created behind (the trace stays: it shows why).
      for (const f of prepared.created) if (f !== options.trace) rmSync(f, { force: true });
      throw err;
    }
    if (report.results.every((r) => r.outcome === 'skipped' && r.skipCode === 'version')) {
      options.notice?.(`conformance: every selected case is left out for the version judged (${Object.values(report.meta.specVersions).map((v) => v.version).join(', ')})`);
    }
    if (expectations) {
      report = { ...report, meta: { ...report.meta } };
      applyExpectations(report, expectations, strict);
    }
    // A report that cannot be written (a full disk) does not stop the others; the run then exits 2, its record incomplete.
    const unwritten: string[] = [];
    for (const { file, r } of reporters) {
      const text = r.finish(report);
      if (file === undefined) {
        options.write?.(text);
        continue;
      }
      try {
        writeReportFile(file, text);
      } catch (err) {
        unwritten.push(`cannot write the report ${escapeForTerminal(file)} (${errorText(err)})`);
      }
    }
    if (options.updateExpectations) {
      try {
        const n = writeExpectations(options.updateExpectations, report, strict, expectations);
        options.notice?.(`conformance: wrote ${n} entr${n === 1 ? 'y' : 'ies'} (failing or not judged) to ${escapeForTerminal(options.updateExpectations)}`);
      } catch (err) {
        unwritten.push(`cannot write the expectations file ${escapeForTerminal(options.updateExpectations)} (${errorText(err)})`);
      }
    }
    return { report, unwritten, exitCode: unwritten.length ? 2 : exitCode(report, strict) };
  } finally {
    trace?.close();
  }
}
