import type { Edition, Level } from '../spec/requirements.js';

/** One request and what came back, already redacted: safe to print. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string; truncated: boolean };
  durationMs: number;
  /** A shell command that sends the same request; secrets are shell variables. */
  curl: string;
  /** curl commands of the case's earlier steps, in order: run them first to reproduce the state. */
  before?: string[];
}

/** A check that did not hold: data, not an exception. */
export interface CheckFailure {
  requirement: string;
  level: Level;
  /** The normative statement from spec/pushers.md. */
  quote: string;
  /** Which check: status, errcode, body, body_includes, schema, list. */
  check: string;
  expected: unknown;
  actual: unknown;
  message: string;
  step: number;
  stepTitle: string;
  /** file:line of the expectation in the case file. */
  source: string;
  exchange: Exchange;
}

/**
 * passed: every check held; failed: a MUST check failed; warned: only SHOULD
 * checks failed; errored: no verdict could be reached (transport, 5xx, …);
 * skipped: not run; xfailed: failed as an expectations file says it does;
 * xpassed: listed in an expectations file but passing (the file is stale).
 */
export type Outcome = 'passed' | 'failed' | 'warned' | 'errored' | 'skipped' | 'xfailed' | 'xpassed';

export interface CaseResult {
  id: string;
  title: string;
  edition: Edition;
  file: string;
  requirements: string[];
  tags: string[];
  outcome: Outcome;
  failures: CheckFailure[];
  warnings: CheckFailure[];
  error?: { code: string; message: string; step?: number; exchange?: Exchange };
  skipReason?: string;
  /** The expectations-file entry that lists this case. */
  expectation?: { reason: string; link?: string; file: string };
  /** With --repeat: the outcome of every repetition, when they differ. */
  flaky?: Outcome[];
  durationMs: number;
  requests: number;
}

export interface RunMeta {
  suite: { name: string; version: string };
  target: string;
  embedded: boolean;
  editions: Edition[];
  strict: boolean;
  versions: unknown;
  server?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  expectations?: string;
  repeat?: number;
}

export interface RunReport {
  meta: RunMeta;
  results: CaseResult[];
}

export interface Summary {
  total: number;
  passed: number;
  failed: number;
  warned: number;
  errored: number;
  skipped: number;
  xfailed: number;
  xpassed: number;
  mustFailures: number;
  shouldFailures: number;
}

export function summarize(results: readonly CaseResult[]): Summary {
  const s: Summary = { total: results.length, passed: 0, failed: 0, warned: 0, errored: 0, skipped: 0, xfailed: 0, xpassed: 0, mustFailures: 0, shouldFailures: 0 };
  for (const r of results) {
    s[r.outcome] += 1;
    s.mustFailures += r.failures.length;
    s.shouldFailures += r.warnings.length;
  }
  return s;
}

/** Whether a case counts against the target at the chosen level. */
export function isFailing(r: CaseResult, strict: boolean): boolean {
  return r.outcome === 'failed' || r.outcome === 'errored' || r.outcome === 'xpassed' || (strict && r.outcome === 'warned');
}
