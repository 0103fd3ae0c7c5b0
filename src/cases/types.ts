import type { EditionInfo } from '../spec/editions.js';
import type { Edition } from '../spec/requirements.js';
import type { ValueProblem } from './values.js';

/** One check of an expectation: a registered expectation kind and its value (`status: 200`). */
export interface Check {
  kind: string;
  value: unknown;
}

/** Checks tied to one requirement, hence to one level. */
export interface Expectation {
  requirement: string;
  checks: Check[];
  line: number;
}

/** An HTTP status, or a class of them: "4xx" is any status from 400 to 499. */
export type StatusWant = number | string;

/** What an answer is matched on (skip_if, end_if): its status, and its errcode and body if given. */
export interface AnswerMatch {
  status?: StatusWant[];
  errcode?: string[];
  body?: unknown;
  reason: string;
}

/**
 * One step of a case: a registered step kind (`request`, `await_notification`,
 * …) with its own part of the case file, the expectations on what it observed,
 * and values to capture from it.
 */
export interface Step {
  kind: string;
  title: string;
  /** The step kind's own value, as validated by its schema (e.g. the request). */
  spec: unknown;
  expect: Expectation[];
  /** A step that only sets the scene: another status makes the case an error. */
  setup?: { status: number[] };
  /** When the answer matches (status, and errcode and body if given), the case is skipped with the reason: the target cannot take part. */
  skipIf?: AnswerMatch;
  /** When the answer matches, the step's expectations are judged and the case ends there: what follows has nothing to judge. */
  endIf?: AnswerMatch;
  /** Variable name → JSON pointer into what the step observed. */
  capture: Record<string, string>;
  line: number;
}

export interface Case {
  id: string;
  title: string;
  edition: Edition;
  /** The area the case belongs to: the folder it lives in, cases/<edition>/<area>/ (spec/areas.yaml). */
  area: string;
  requirements: string[];
  tags: string[];
  users: string[];
  /** The case needs users that have never been used by another case (e.g. in no room). */
  freshUsers: boolean;
  /** Services of the run the case needs (e.g. the mock push gateway). */
  needs: string[];
  steps: Step[];
  /**
   * Request steps sent when the case ends, before the clean-up rules, each only
   * if every variable it reads was captured: they put back what the case changed
   * of state it found (a default push rule's `enabled`, say).
   */
  finally: Step[];
  /** Path relative to the package root (or as given), for reports. */
  file: string;
  line: number;
}

/**
 * A request sent when a case ends, for each earlier request that matched
 * `after`: what the case created is removed, so its users can be handed to
 * the next case and a shared server is left as it was.
 */
export interface CleanupRule {
  after: { method: string; path: string; status?: number | number[]; sent?: unknown };
  /**
   * The request to send; values may read the request sent with {$sent: POINTER},
   * its answer with {$received: POINTER}, and the path segments the `*`s of
   * `after.path` matched with {$matched: N} (1-based).
   */
  send: { method: string; path: unknown; json?: unknown };
  /** Pointers into the sent body: two matches with equal values there are cleaned up once. */
  key?: string[];
}

/**
 * What a user already has before a case takes it (pushers of a given
 * account, leftovers of an earlier case that failed): read with `request`,
 * the items of the array at `list`, identified by the pointers in `key`.
 * Answers to the same request during the case have those items removed, so
 * "exactly these pushers" speaks of the case's own.
 */
export interface Baseline {
  request: { method: string; path: string };
  list: string;
  key: string[];
}

/**
 * A step whose request carries a value of `service` and is answered with one
 * of `status` is sent once more after the service offers itself another way
 * (the mock gateway over HTTPS, for a target that refuses http:// URLs),
 * unless the target took the same values in an earlier step of the run.
 */
export interface Alternative {
  service: string;
  status: number[];
}

export interface EditionSetup {
  cleanup: CleanupRule[];
  baseline?: Baseline;
  alternatives?: Alternative[];
}

/** The key of what cases of one edition and area share (templates, clean-up, baseline): `v1/pushers`. */
export const scopeOf = (c: { edition: string; area: string }): string => `${c.edition}/${c.area}`;

export interface Suite {
  cases: Case[];
  /** By scope (scopeOf): the edition's templates with the area's over them. */
  templates: Record<string, Record<string, unknown>>;
  /** By scope (scopeOf): the edition's clean-up rules and the area's; the area's baseline, or else the edition's. */
  setups: Record<string, EditionSetup>;
}

/** What a step's or an expectation's static check records: the names a case refers to. */
export interface References {
  /** Users a step acts as (a request's auth). */
  auth: Set<string>;
  vars: Set<string>;
  users: Set<string>;
  templates: Set<string>;
  /** Services read with {$service: NAME.KEY}. */
  services: Set<string>;
}

/** What the case loader needs of a step kind: its key, the schema of its value and its static checks. */
export interface CaseStepKind {
  name: string;
  schema: object;
  check?(spec: unknown, path: Array<string | number>, out: ValueProblem[], refs: References): void;
  prepare?(spec: unknown, edition: EditionInfo): unknown;
}

/** What the case loader needs of an expectation kind. */
export interface CaseExpectKind {
  name: string;
  schema: object;
  /** The step kinds whose observations it can judge. */
  steps: readonly string[];
  check?(value: unknown, path: Array<string | number>, out: ValueProblem[], refs: References): void;
}

export interface KindRegistry<T> {
  readonly all: readonly T[];
  get(name: string): T | undefined;
}

/**
 * The kinds a suite's cases may use. The loader is given them (the runner
 * owns the registries), so the case format depends on no runner code.
 */
export interface CaseKinds {
  steps: KindRegistry<CaseStepKind>;
  expects: KindRegistry<CaseExpectKind>;
}
