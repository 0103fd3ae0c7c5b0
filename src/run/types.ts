import type { Timings } from '../http/client.js';
import type { Ground, Level } from '../spec/requirements.js';

/** One request and what came back, already redacted: safe to print once escaped for its medium. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: string; bodyCut?: boolean };
  response?: { status: number; headers: Record<string, string>; body: string; truncated: boolean; bodyCut?: boolean };
  durationMs: number;
  /** A shell command that sends the same request; secrets are shell variables. */
  curl: string;
}

/**
 * One exchange of a case, in the order of its case's exchanges: a request a
 * step sent to the target (with a curl line that sends it again), or a request
 * the target sent to a service of the run (a poke to the mock gateway) with
 * the service's answer. Redacted; its bodies cut at 64 KiB in the exchanges
 * of a failing step, at 8 KiB in the others.
 */
export interface CaseExchange {
  /** The step it happened during (1-based); 0 before the first step (reading what the users held). */
  step: number;
  stepTitle?: string;
  direction: 'to-target' | 'from-target';
  /** For from-target: the service that received it ("gateway"). */
  service?: string;
  /** When it began, in ms since the case started. */
  atMs: number;
  request: Exchange['request'];
  response?: Exchange['response'];
  /** Why no answer came (a timeout, a reset). */
  error?: string;
  durationMs: number;
  timings?: Timings;
  curl?: string;
}

/**
 * A period a step waited to reach its verdict (a quiet period after a
 * witness, a time given to the target, a retry window), and what it was
 * derived from: how far a check that nothing arrived looked.
 */
export interface WaitPeriod {
  step: number;
  /** quiet, wait, window, … (named by the step kind). */
  kind: string;
  ms: number;
  /** In words: "3 × 120 ms (the slowest of 7 poke(s) so far took 120 ms)", "set with --quiet-period". */
  basis: string;
}

/** A wait of more than a second, as it starts and ends: for live progress (the status line, a log). */
export interface WaitEvent {
  phase: 'start' | 'end';
  caseId: string;
  step: number;
  /** What is awaited, in words: "the poke to be sent again". */
  what: string;
  /** The most it may last, from when the step began. */
  maxMs: number;
  /** How long it has lasted (at `start`: the second before it was announced). */
  elapsedMs: number;
}

/** A check that did not hold: data, not an exception. */
export interface CheckFailure {
  requirement: string;
  level: Level;
  ground: Ground;
  /** The statement from spec/pushers.md, in this project's words. */
  quote: string;
  /** The section of the spec the requirement rests on, in the version judged. */
  link: string;
  /** The versions in which the requirement holds ("v1.6+", "v1.1–v1.16", "draft"). */
  versions: string;
  /** Which check: status, errcode, body, body_includes, schema, list, … */
  check: string;
  expected: unknown;
  actual: unknown;
  message: string;
  step: number;
  stepTitle: string;
  /** file:line of the expectation in the case file. */
  source: string;
  exchange?: Exchange;
}

/**
 * passed: every check held; failed: a MUST check failed; warned: only SHOULD
 * checks failed; errored: no verdict could be reached (transport, 5xx, …);
 * skipped: not run, for a reason given; notrun: not reached before the run
 * was interrupted; xfailed: failed as an expectations file says it does;
 * xpassed: listed in an expectations file but passing (the file is stale).
 */
export type Outcome = 'passed' | 'failed' | 'warned' | 'errored' | 'skipped' | 'notrun' | 'xfailed' | 'xpassed';

/**
 * Why a case was not judged, which decides what its skip means:
 * - choice: the user's own setting left it out (--no-delivery); never counts against a run;
 * - version: its requirements do not hold in the version judged; never counts;
 * - not-served: the target neither serves nor advertises its edition; the area is reported
 *   as not judged, but the run is not failed for it;
 * - target: the target (or what the run could offer it) could not take part: a setting it
 *   refused, a feature it lacks, accounts too few, a service that could not start. The
 *   verdict says the area was not judged, and a gate fails unless the skip is listed.
 */
export type SkipCause = 'choice' | 'version' | 'not-served' | 'target';

export interface CaseResult {
  id: string;
  title: string;
  edition: string;
  /** The area of the case (spec/areas.yaml). */
  area: string;
  file: string;
  requirements: string[];
  tags: string[];
  outcome: Outcome;
  failures: CheckFailure[];
  warnings: CheckFailure[];
  error?: { code: string; message: string; step?: number; exchange?: Exchange };
  skipReason?: string;
  /** Why the case was skipped, as a code reporters and summaries group by. */
  skipCode?: string;
  /** What the skip means for the verdict and the gate (see SkipCause). */
  skipCause?: SkipCause;
  /** The expectations-file entry that lists this case, and whether the case failed the way it records. */
  expectation?: {
    reason: string;
    link?: string;
    file: string;
    requirements?: string[];
    /** The entry records the case as not judged (the skip code it had). */
    skipped?: string;
    matched?: boolean;
    mismatch?: string;
    /** The case did not run at the version judged: the entry says nothing here ("not run at v1.2"). */
    unused?: string;
  };
  /** The periods its steps waited to judge (quiet periods, retry windows), each with its basis. */
  periods?: WaitPeriod[];
  /**
   * For a case that failed, errored or warned: every exchange of its steps up
   * to the last one that failed, in order (see CaseExchange), and how many
   * older ones were left out to keep the result bounded.
   */
  exchanges?: CaseExchange[];
  exchangesOmitted?: number;
  /** With --repeat: the outcome of every repetition, when they differ. */
  flaky?: Outcome[];
  durationMs: number;
  requests: number;
}

export interface RunMeta {
  suite: { name: string; version: string };
  target: string;
  embedded: boolean;
  editions: string[];
  /** The areas of the suite by id, with the title reports name them by. */
  areas?: Record<string, { title: string }>;
  strict: boolean;
  versions: unknown;
  /** Per edition: the version of its specification the run judged by, and why. */
  specVersions: Record<string, { version: string; from: string; asked?: string; note?: string }>;
  /** Editions the target does not serve: their cases were skipped. */
  notServed?: Record<string, string>;
  server?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  expectations?: string;
  repeat?: number;
  /** Set when the run was stopped (SIGINT/SIGTERM) before every case ran. */
  interrupted?: boolean;
  /** Time spent waiting out rate limits, over all requests. */
  rateLimitedMs?: number;
  /** Wall-clock time during which at least one request waited out a rate limit. */
  rateLimitedWallMs?: number;
  /** Accounts registered or logged in for the run. */
  users?: number;
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
  notrun: number;
  xfailed: number;
  xpassed: number;
  mustFailures: number;
  shouldFailures: number;
}

export function summarize(results: readonly CaseResult[]): Summary {
  const s: Summary = { total: results.length, passed: 0, failed: 0, warned: 0, errored: 0, skipped: 0, notrun: 0, xfailed: 0, xpassed: 0, mustFailures: 0, shouldFailures: 0 };
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
