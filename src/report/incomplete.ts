/**
 * The report a run writes at its report paths before its first request (see
 * files.ts): result data like any other, so each format renders it as its
 * own reporter would. It judges nothing and fails: its one case is errored
 * with ERR_RUN_INCOMPLETE, which a CI reader of any format counts as a
 * failure, and `meta.incomplete` says why in words.
 */
import type { RunReport } from '../run/types.js';
import type { ReportPath } from './files.js';
import { render } from './index.js';
import type { BeginInfo } from './types.js';

/**
 * The first line of an expectations file a run of --update-expectations
 * writes before its first request (see files.ts); the run replaces the
 * file when it ends. A file that still starts so was left by a run that did
 * not finish, and records nothing (expectations.ts refuses it).
 */
export const INCOMPLETE_EXPECTATIONS = '# INCOMPLETE: the run of conformance --update-expectations writing this file did not finish; it records no expectation.\n{}\n';

export const INCOMPLETE_CODE = 'ERR_RUN_INCOMPLETE';
export const INCOMPLETE_ID = 'run.incomplete';

const WHY = 'the run that writes this report has not finished: it is still running, or it ended without writing its reports (a crash, a kill); this report judges nothing';

export function incompleteReport(info: BeginInfo): RunReport {
  return {
    meta: {
      suite: info.suite,
      target: info.target,
      embedded: info.embedded,
      editions: info.editions === 'auto' ? [] : [...info.editions],
      strict: info.strict,
      versions: {},
      specVersions: {},
      startedAt: info.startedAt,
      finishedAt: info.startedAt,
      durationMs: 0,
      ...(info.expectations ? { expectations: info.expectations } : {}),
      areas: { run: { title: 'nothing: the run did not finish' } },
      incomplete: WHY,
    },
    results: [
      {
        id: INCOMPLETE_ID,
        title: 'Run incomplete: no case was judged',
        edition: info.editions === 'auto' ? 'v1' : (info.editions[0] ?? 'v1'),
        area: 'run',
        file: '',
        requirements: [],
        tags: [],
        outcome: 'errored',
        error: { code: INCOMPLETE_CODE, message: WHY },
        failures: [],
        warnings: [],
        durationMs: 0,
        requests: 0,
      },
    ],
  };
}

/**
 * Every report path of a run, with the incomplete report it holds until the
 * run writes the real one: each reporter's file, the expectations file
 * --update-expectations writes (one that records nothing, and says so), and
 * the trace (streamed by the run itself: only checked).
 */
export function incompletePaths(info: BeginInfo, reporters: ReadonlyArray<{ name: string; file?: string }>, expectationsFile?: string, trace?: string): ReportPath[] {
  const report = incompleteReport(info);
  return [
    ...reporters.flatMap((r) => (r.file === undefined ? [] : [{ path: r.file, incomplete: render(report, r.name) }])),
    ...(expectationsFile === undefined ? [] : [{ path: expectationsFile, incomplete: INCOMPLETE_EXPECTATIONS }]),
    ...(trace === undefined ? [] : [{ path: trace }]),
  ];
}
