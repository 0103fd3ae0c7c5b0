import type { Plan } from '../run/runner.js';
import type { CaseResult, RunReport, WaitEvent } from '../run/types.js';

/** What is known before the first request. */
export interface BeginInfo {
  suite: { name: string; version: string };
  target: string;
  embedded: boolean;
  editions: readonly string[] | 'auto';
  strict: boolean;
  expectations?: string;
  startedAt: string;
}

export interface Progress {
  done: number;
  total: number;
  running: number;
  failed: number;
}

export interface ReporterOptions {
  strict: boolean;
  /** ANSI colours (terminal on a TTY only). */
  color: boolean;
  /** Write live as the run goes (the reporter's output is a stream, not a file). */
  write?: (text: string) => void;
}

/**
 * A reporter turns the run's result data into one format. It may follow the
 * run (begin, plan, each case) to show progress; its whole output is what
 * finish() returns (or, for a live reporter, what it wrote plus that).
 */
export interface Reporter {
  begin?(info: BeginInfo): void;
  plan?(plan: Plan): void;
  caseDone?(r: CaseResult, progress: Progress): void;
  /** A step has waited a second and waits on (for a poke, a retry, a quiet period), or that wait ended. */
  waiting?(e: WaitEvent): void;
  notice?(text: string): void;
  /** The report (or, live, its closing part) for the finished or interrupted run. */
  finish(report: RunReport): string;
}

export interface ReporterDef {
  name: string;
  /** One line for --help. */
  description: string;
  /** The default file extension, for messages. */
  extension: string;
  create(options: ReporterOptions): Reporter;
}
