/**
 * The two extension points of the runner core: step kinds (what a step does:
 * send a request, wait for a push notification, …) and expectation kinds
 * (what is checked about what a step observed: a status, an errcode, a body
 * shape, …). The core runs steps and evaluates checks through these
 * interfaces only; it knows no endpoint and no field of any API.
 */
import type { HttpRequest } from '../http/client.js';
import type { Sender } from '../http/transport.js';
import type { Redactor } from '../http/redact.js';
import type { CaseExpectKind, CaseStepKind, Check, KindRegistry, References } from '../cases/types.js';
import type { ValueProblem } from '../cases/values.js';
import type { EditionInfo } from '../spec/editions.js';
import type { Exchange, SkipCause, WaitPeriod } from './types.js';
import type { User } from './users.js';
import type { Services } from './services.js';
import type { BodyBudget } from './budget.js';

/** What a step saw, in the form expectations read. */
export interface Observed {
  /** The HTTP status, for steps that received an HTTP answer. */
  status?: number;
  /** The body as JSON (undefined when it is not JSON). */
  json: unknown;
  isJson: boolean;
}

/** A reason no verdict can be reached on a step (a 5xx, a transport failure, a missing notification service, …). */
export interface StepProblem {
  code: string;
  message: string;
}

export interface StepRun {
  observed?: Observed;
  /** HTTP requests the step sent (rate-limited tries included). */
  requests: number;
  /** Time spent waiting out rate limits; it does not count against the case's bound. */
  waitedMs: number;
  /** The exchange, recorded only when a report needs it (redacting is not free). */
  exchange?: () => Exchange;
  /** The request the step sent, for the reproduction of later steps. */
  sent?: HttpRequest;
  /** The JSON body the step sent, for clean-up rules. */
  sentJson?: unknown;
  problem?: StepProblem & { exchange?: Exchange };
  /** Said after any problem with the step's answer (an answer holding another request's body: see request.ts). */
  hint?: string;
  /** The case cannot run here at all (a service the target cannot use): skipped with this reason. */
  skip?: string;
  /** Why it was skipped, as a code reports group by (default `step`). */
  skipCode?: string;
  /** What the skip means for the verdict and the gate (default `target`: the target could not take part). */
  skipCause?: SkipCause;
  /** The periods the step waited to reach its verdict, for the case's result. */
  periods?: Array<Omit<WaitPeriod, 'step'>>;
  /**
   * The step saw nothing to judge where something had to be (no notification
   * arrived): its expectations of arrival fail with this message (every
   * expectation, when it has none of them; see ExpectKind.judgesArrival).
   */
  unobserved?: string;
  /** Gives back what the step holds of the run's body budget, once its observation is judged. */
  release?: () => void;
}

/** What the core hands a step. */
export interface StepContext {
  caseId: string;
  edition: EditionInfo;
  /** 1-based. */
  index: number;
  /** performance.now() when the case started: the origin of the times its messages give. */
  caseStarted?: number;
  title: string;
  transport: Sender;
  /** Base URL of the target, without a trailing slash. */
  base: string;
  redactor: Redactor;
  followRedirects: boolean;
  timeoutMs: number;
  /** Expands generators ($unique, $var, $template, …) in a value of the case. */
  resolve(value: unknown): unknown;
  /** The case's user with this alias. */
  user(alias: string): User | undefined;
  /** Per-run services (the mock push gateway, …), started on first use. */
  services: Services;
  /** performance.now() when the answer to the case's latest request arrived (what a poke's latency counts from). */
  previousAnswerAt?: number;
  /**
   * Says that the step starts waiting for `what`, at most `maxMs`: if it still
   * waits a second later, the run shows it live. Call the returned function when the wait ends.
   */
  waiting(what: string, maxMs: number): () => void;
  /** Where a step with a large answer waits for room before parsing it (see budget.ts). */
  bodies: BodyBudget;
  signal?: AbortSignal;
}

export interface StepKind extends CaseStepKind {
  /** The key of the step in a case file: `request:`, `await_notification:`. */
  name: string;
  /** JSON Schema of the step's value; compiled by the one Ajv. */
  schema: object;
  /** Static checks after the schema: generator shapes, references to users, variables and templates. */
  check?(spec: unknown, path: Array<string | number>, out: ValueProblem[], refs: References): void;
  /**
   * Roughly how long the step may wait beyond its requests, in ms, so that the
   * run starts the cases that wait longest first and the rest overlap them.
   */
  waitWeight?(spec: unknown): number;
  /** The step sends nothing and only waits for the target: its case gives up its job slot meanwhile. */
  waits?: boolean;
  /** Rewrites the value once at load (e.g. a path relative to the edition's prefix). */
  prepare?(spec: unknown, edition: EditionInfo): unknown;
  run(spec: unknown, ctx: StepContext): Promise<StepRun>;
  /**
   * Whether the observation can be judged at all, given the MUST checks of the
   * step: `holds` evaluates one of them. Returns the problem that makes it an
   * error instead of a verdict.
   */
  judgeable?(run: StepRun, must: readonly Check[], holds: (c: Check) => boolean, kinds: ExpectRegistry): StepProblem | undefined;
}

export interface CheckOutcome {
  check: string;
  expected: unknown;
  actual: unknown;
  message: string;
}

export interface ExpectKind extends CaseExpectKind {
  /** The key in an expectation: `status:`, `errcode:`. */
  name: string;
  schema: object;
  /** Whether the check reads the body (so a body that is not JSON leaves it without a verdict). */
  readsBody: boolean;
  /** Whether its value may hold generators and matchers, expanded by the core before evaluate(). */
  resolves: boolean;
  /** The step kinds whose observations it can judge. */
  steps: readonly string[];
  /**
   * The check's whole claim is that the step observed something (a
   * notification arrived). When a step observes nothing, only expectations
   * holding such a check fail; the others read what never came and are not
   * judged. A step with none of them fails every expectation instead.
   */
  judgesArrival?: boolean;
  /**
   * The check's whole claim is that the body is JSON. A step whose MUST
   * checks hold one of them is judged when its body is not JSON (the check
   * fails); without one, such a body leaves the step without a verdict.
   */
  judgesJson?: boolean;
  check?(value: unknown, path: Array<string | number>, out: ValueProblem[], refs: References): void;
  evaluate(value: unknown, observed: Observed): CheckOutcome[];
}

export type { References } from '../cases/types.js';

export interface ExpectRegistry {
  get(name: string): ExpectKind | undefined;
}

export type StepRegistry = KindRegistry<StepKind>;

/**
 * The kinds a run uses, given to it (RunOptions.kinds) and to the case
 * loader: the core knows only its own (steps/index.ts, expect/index.ts);
 * the module above it that also knows the areas composes the rest in.
 */
export interface Kinds {
  steps: StepRegistry;
  expects: KindRegistry<ExpectKind>;
}

/** A registry that takes more kinds after it is made (a program embedding the runner adds its own). */
export interface OpenRegistry<T> extends KindRegistry<T> {
  /** Adds a kind; a name already taken is a bug, thrown at once. */
  register(kind: T): void;
}

/** A registry of the given kinds, in their order, each found by its name (which must be unique). */
export function kindRegistry<T extends { name: string }>(what: string, kinds: readonly T[]): OpenRegistry<T> {
  const list: T[] = [];
  const registry: OpenRegistry<T> = {
    get all(): readonly T[] {
      return list;
    },
    get: (name) => list.find((k) => k.name === name),
    register(kind) {
      if (list.some((k) => k.name === kind.name)) throw new Error(`${what} kind ${kind.name} is registered twice`);
      list.push(kind);
    },
  };
  for (const kind of kinds) registry.register(kind);
  return registry;
}
