/**
 * Runs one case: takes its users, runs its steps in order through their step
 * kinds, evaluates each expectation through its expectation kinds at the
 * level its requirement has in the version judged, and cleans up what the
 * case created by the edition's declared rules. Knows no endpoint.
 */
import { scopeOf, type Alternative, type AnswerMatch, type Case, type Check, type CleanupRule, type EditionSetup, type Step, type Suite } from '../cases/types.js';
import { asKey, segmentName, match, pointer, resolve, ValueError, type ValueContext } from '../cases/values.js';
import { TargetError } from '../errors.js';
import { TransportError, type HttpRequest } from '../http/client.js';
import { CUT_MARGIN, type Redactor } from '../http/redact.js';
import type { Sender } from '../http/transport.js';
import type { EditionInfo } from '../spec/editions.js';
import { linkFor, versionRange, type SpecText } from '../spec/requirements.js';
import { statusMatches } from './expect/status.js';
import type { Kinds, Observed, StepContext, StepKind, StepRun } from './kinds.js';
import type { Services } from './services.js';
import { RESULT_BODY_CAP } from './exchange.js';
import { cutUnits, jsonText } from '../text.js';
import { jsonShape, MAX_JSON_DEPTH, parseJson } from '../json.js';
import type { BodyBudget } from './budget.js';
import type { CaseResult, CheckFailure, WaitEvent } from './types.js';
import type { Slots } from './slots.js';
import { uniqueValue, type CaseScope } from './journal.js';
import { UsersError, type User, type UserSource } from './users.js';

export interface CaseEnv {
  /** Sends the case's requests, and records them in its scope and the trace. */
  client: Sender;
  base: string;
  runId: string;
  seq: number;
  /** Where the case's exchanges are kept, and what step it is at (for the trace). */
  scope: CaseScope;
  spec: SpecText;
  suite: Suite;
  /** The kinds the case's steps and expectations are run and judged by. */
  kinds: Kinds;
  edition: EditionInfo;
  /** The version of the edition's specification the case is judged by. */
  version: string;
  users: UserSource;
  redactor: Redactor;
  services: Services;
  /** Clean up what the case created once it ends, so a shared server is left as it was. */
  cleanup: boolean;
  followRedirects: boolean;
  timeoutMs: number;
  /** Large answers wait here for room before they are parsed (see budget.ts). */
  bodies: BodyBudget;
  signal?: AbortSignal;
  /** Sees waits of more than a second as they start and end. */
  onWait?: (e: WaitEvent) => void;
  /** The run's job slots: the case holds one, and gives it up while a step only waits (StepKind.waits). */
  slots?: Slots;
}

/** How long a wait lasts before the run shows it. */
const SHOWN_WAIT_MS = 1000;

/** Runs a step's kind; one that only waits gives up the case's job slot meanwhile. */
async function runKind(kind: StepKind, spec: unknown, ctx: StepContext, slots: Slots | undefined): Promise<StepRun> {
  if (!kind.waits || !slots) return kind.run(spec, ctx);
  slots.release();
  try {
    return await kind.run(spec, ctx);
  } finally {
    slots.retake();
  }
}

/** StepContext.waiting for a step: a wait still running after a second is announced, and its end too. */
function waitAnnouncer(env: CaseEnv, caseId: string, step: number): (what: string, maxMs: number) => () => void {
  return (what, maxMs) => {
    const onWait = env.onWait;
    if (!onWait || maxMs <= SHOWN_WAIT_MS) return () => undefined;
    const started = performance.now();
    let shown = false;
    const timer = setTimeout(() => {
      shown = true;
      onWait({ phase: 'start', caseId, step, what, maxMs, elapsedMs: performance.now() - started });
    }, SHOWN_WAIT_MS);
    timer.unref();
    return () => {
      clearTimeout(timer);
      if (shown) onWait({ phase: 'end', caseId, step, what, maxMs, elapsedMs: performance.now() - started });
    };
  };
}

/** The most of a message the reports keep: messages quote what a target sent, in short. */
const MESSAGE_CAP = 8 * 1024;

/** Values cut by bounded(): their JSON text is what remains to redact. */
const cutValues = new WeakSet<object>();

/**
 * A value as the reports may keep it: itself when it is at most 64 KiB of
 * JSON and nests no deeper than any check reads (reports write values
 * recursively); otherwise {$cut, bytes, depth, json}, its JSON text cut (a
 * margin past 64 KiB is kept, so that redaction sees secrets whole before the
 * last cut). Written without recursion, whatever the depth. `seen` keeps one
 * result per object: several checks of a step often show the same body.
 */
function bounded(value: unknown, seen: Map<unknown, unknown>): unknown {
  if (typeof value === 'string') return cutUnits(value, RESULT_BODY_CAP + CUT_MARGIN).text;
  if (typeof value !== 'object' || value === null || cutValues.has(value)) return value;
  if (seen.has(value)) return seen.get(value);
  const j = jsonText(value, RESULT_BODY_CAP + CUT_MARGIN);
  let kept: unknown = value;
  if (j.cut || j.bytes > RESULT_BODY_CAP || j.depth > MAX_JSON_DEPTH) {
    const cut = { $cut: true, bytes: j.bytes, depth: j.depth, json: j.text };
    cutValues.add(cut);
    kept = cut;
  }
  seen.set(value, kept);
  return kept;
}

/**
 * Replaces every secret in a value the reports will show (a message, an
 * expected or actual value), once bounded() has made it small.
 */
function redactValue(value: unknown, redactor: Redactor): unknown {
  if (typeof value === 'string') return redactor.applyCut(value, RESULT_BODY_CAP).text;
  if (typeof value !== 'object' || value === null) return value;
  if (cutValues.has(value)) {
    const cut = value as { json: string };
    return { ...cut, json: redactor.applyCut(cut.json, RESULT_BODY_CAP).text };
  }
  const j = jsonText(value);
  const redacted = redactor.apply(j.text);
  if (redacted === j.text) return value;
  try {
    return JSON.parse(redacted) as unknown;
  } catch {
    return redacted;
  }
}

/** The key of an item of a baseline list. */
function itemKey(item: unknown, key: readonly string[]): string {
  try {
    return key.map((p) => JSON.stringify(pointer(item, p)) ?? '').join('\n');
  } catch {
    // A value too deep to write (the caller reads only bodies of bounded depth; this is the last guard).
    return '\u0000unkeyable';
  }
}

/** The access token a request carries in its query string, if any. */
function queryToken(url: string): string | undefined {
  return URL.parse(url)?.searchParams.get('access_token') ?? undefined;
}

/**
 * A path of a rule against a request's path segments: each `*` segment stands
 * for any one path segment. The segments the `*`s matched (decoded), or
 * undefined when it does not match.
 */
function pathMatch(pattern: string, path: readonly string[] | undefined): string[] | undefined {
  if (path === undefined) return undefined;
  const want = pattern.split('/');
  if (want.length !== path.length || !want.every((seg, i) => seg === '*' || seg === path[i])) return undefined;
  return want.flatMap((seg, i) => {
    if (seg !== '*') return [];
    const raw = path[i] as string;
    try {
      return [decodeURIComponent(raw)];
    } catch {
      return [raw];
    }
  });
}

/** The segments of a URL's path, still percent-encoded; undefined for a URL that does not parse. */
function pathSegments(url: string): string[] | undefined {
  return URL.parse(url)?.pathname.split('/');
}

const pathMatches = (pattern: string, url: string): boolean => pathMatch(pattern, pathSegments(url)) !== undefined;

/** Whether a step's answer is the one a skip_if or end_if describes: status, errcode and body all as given. */
function answers(when: AnswerMatch, observed: Observed, errcode: unknown): boolean {
  if (when.status && !statusMatches(when.status, observed.status)) return false;
  if (when.errcode && !when.errcode.includes(typeof errcode === 'string' ? errcode : '')) return false;
  if (when.body !== undefined && (!observed.isJson || match(when.body, observed.json, 'includes').length > 0)) return false;
  return true;
}

/**
 * A clean-up request, made when the step it follows is judged: it reads only
 * a few members of what was sent and received, and keeping whole answers
 * until the case ends would keep megabytes a target may send.
 */
interface Pending {
  user: User;
  /** Requests with the same key are sent once. */
  key?: string;
  /** The request, or undefined when the answer did not hold what it needs (the users are then not clean). */
  request?: { method: string; path: string; json?: unknown };
}

export async function runCase(c: Case, env: CaseEnv): Promise<CaseResult> {
  const started = performance.now();
  const result: CaseResult = { id: c.id, title: c.title, edition: c.edition, area: c.area, file: c.file, requirements: c.requirements, tags: c.tags, outcome: 'passed', failures: [], warnings: [], durationMs: 0, requests: 0 };
  const finish = (): CaseResult => {
    result.durationMs = performance.now() - started;
    // Targets may repeat a secret back (in an error text, a Location, a body): nothing the reports show keeps it.
    if (result.error) result.error.message = env.redactor.applyCut(result.error.message, MESSAGE_CAP).text;
    // Several checks of a step often show the same body: it is redacted once.
    const kept = new Map<unknown, unknown>();
    const done = new Map<unknown, unknown>();
    const redacted = (v: unknown): unknown => {
      const b = bounded(v, kept);
      if (typeof b !== 'object' || b === null) return redactValue(b, env.redactor);
      if (!done.has(b)) done.set(b, redactValue(b, env.redactor));
      return done.get(b);
    };
    for (const f of [...result.failures, ...result.warnings]) {
      f.message = env.redactor.applyCut(f.message, MESSAGE_CAP).text;
      f.expected = redacted(f.expected);
      f.actual = redacted(f.actual);
    }
    if (result.outcome === 'passed' && result.failures.length) result.outcome = 'failed';
    else if (result.outcome === 'passed' && result.warnings.length) result.outcome = 'warned';
    keepExchanges(result, env);
    return result;
  };

  let users: User[] = [];
  if (c.users.length) {
    let got;
    try {
      got = await env.users.acquire(c.users, { fresh: c.freshUsers, requests: c.steps.length });
    } catch (err) {
      // The message may quote the target's answer, which may repeat a password or token back.
      if (err instanceof TargetError) throw new TargetError(err.code as ConstructorParameters<typeof TargetError>[0], env.redactor.apply(err.message));
      if (err instanceof UsersError) {
        result.outcome = 'errored';
        result.error = { code: 'ERR_USERS', message: err.message };
        return finish();
      }
      throw err;
    }
    if ('skip' in got) {
      result.outcome = 'skipped';
      result.skipReason = got.skip;
      result.skipCode = 'users';
      result.skipCause = 'target';
      return finish();
    }
    users = got;
  }
  let clean = false;
  try {
    // The case's bound counts from here: waiting for users from the pool (held by slow cases) is not the case's time.
    const stepsFrom = performance.now();
    clean = await runSteps(c, env, users, result, stepsFrom);
  } finally {
    env.users.release(users, clean && result.outcome === 'passed' && result.failures.length === 0 && result.warnings.length === 0);
  }
  return finish();
}

/** What the steps of one case share. */
interface CaseRun {
  c: Case;
  env: CaseEnv;
  users: readonly User[];
  result: CaseResult;
  started: number;
  setup: EditionSetup;
  vars: Map<string, unknown>;
  values: ValueContext;
  stepContext: (index: number, title: string) => StepContext;
  pending: Pending[];
  /** Every request is bounded by the per-request timeout; the case as a whole by one timeout per request it may send, plus what it spends waiting. */
  deadline: number;
  /** The services whose values the step being run read, with those values: a step refused for one may be sent again when that service offers another way. */
  stepServices: Map<string, unknown[]>;
  /** performance.now() when the answer to the case's latest request arrived (what a poke's latency counts from). */
  previousAnswerAt?: number;
}

/** Runs the steps; returns whether the clean-up removed everything the case created. */
async function runSteps(c: Case, env: CaseEnv, users: User[], result: CaseResult, started: number): Promise<boolean> {
  const byAlias = new Map(users.map((u) => [u.alias, u]));
  const uniques = new Map<string, string>();
  const vars = new Map<string, unknown>();
  const stepServices = new Map<string, unknown[]>();
  const values: ValueContext = {
    unique: (name) => {
      let v = uniques.get(name);
      if (v === undefined) {
        v = uniqueValue(name, env.runId, env.seq);
        uniques.set(name, v);
      }
      return v;
    },
    variable: (name) => vars.get(name),
    userId: (alias) => byAlias.get(alias)?.userId ?? '',
    template: (name) => env.suite.templates[scopeOf(c)]?.[name],
    service: (name, key) => {
      const value = env.services.value(name, key);
      stepServices.set(name, [...(stepServices.get(name) ?? []), value]);
      return value;
    },
  };
  const stepContext = (index: number, title: string): StepContext => ({
    caseId: c.id,
    edition: env.edition,
    index,
    caseStarted: env.scope.started,
    title,
    transport: env.client,
    base: env.base,
    redactor: env.redactor,
    followRedirects: env.followRedirects,
    timeoutMs: env.timeoutMs,
    resolve: (v) => resolve(v, values),
    user: (alias) => byAlias.get(alias),
    services: env.services,
    bodies: env.bodies,
    ...(run.previousAnswerAt !== undefined ? { previousAnswerAt: run.previousAnswerAt } : {}),
    waiting: waitAnnouncer(env, c.id, index),
    ...(env.signal ? { signal: env.signal } : {}),
  });
  const run: CaseRun = { c, env, users, result, started, setup: env.suite.setups[scopeOf(c)] ?? { cleanup: [] }, vars, values, stepContext, pending: [], deadline: started + env.timeoutMs * (c.steps.length + 2), stepServices };
  // What the case found and changed is put back first (finally), then what it created is removed (clean-up rules).
  const putBack = async (): Promise<boolean> => {
    let clean = true;
    for (const [i, step] of c.finally.entries()) {
      if (!env.cleanup) break;
      if (readsVars(step.spec).some((v) => vars.get(v) === undefined)) continue;
      try {
        const ran = await (env.kinds.steps.get(step.kind) as StepKind).run(step.spec, stepContext(c.steps.length + i + 1, step.title));
        ran.release?.();
        result.requests += ran.requests;
        const status = ran.observed?.status;
        if (ran.problem || status === undefined || status < 200 || status > 299) clean = false;
      } catch (err) {
        if (!(err instanceof ValueError)) throw err;
        clean = false;
      }
    }
    return clean;
  };
  try {
    await readBaselines(c, users, run.setup, env);
    for (const [i, step] of c.steps.entries()) if (!(await runStep(run, i, step))) break;
  } catch (err) {
    if (!(err instanceof ValueError)) {
      // A bug: still clean up, so the target is left as it was, then let it surface.
      env.scope.step = 'cleanup';
      await putBack().catch(() => false);
      await cleanup(run.pending, env);
      throw err;
    }
    result.outcome = 'errored';
    result.error = { code: 'ERR_CASE_VALUE', message: err.message, ...(typeof env.scope.step === 'number' ? { step: env.scope.step } : {}) };
  }
  env.scope.step = 'cleanup';
  const restored = await putBack();
  return (await cleanup(run.pending, env)) && restored;
}

/**
 * Runs one step and judges what it observed; returns whether the next step
 * runs. Everything the step observed lives in this call alone (a suspended
 * loop would keep the last answer in its frame while the next step waits):
 * the body budget held for it is given back when it returns.
 */
async function runStep(run: CaseRun, i: number, step: Step): Promise<boolean> {
  const { env, result } = run;
  const kind = env.kinds.steps.get(step.kind);
  if (!kind) throw new Error(`step kind ${step.kind} is not registered`);
  if (env.signal?.aborted) {
    result.outcome = 'errored';
    result.error = { code: 'ERR_INTERRUPTED', message: `step ${i + 1} "${step.title}": the run was interrupted`, step: i + 1 };
    return false;
  }
  if (performance.now() > run.deadline) {
    result.outcome = 'errored';
    result.error = { code: 'ERR_CASE_TIMEOUT', message: `step ${i + 1} "${step.title}": the case ran past its bound of ${Math.round(run.deadline - run.started)} ms`, step: i + 1 };
    return false;
  }
  env.scope.enter(i + 1, step.title);
  const ran = await runOtherWayIfRefused(run, i, step, kind);
  if (ran.sent) run.previousAnswerAt = performance.now();
  try {
    return judgeStep(run, i, step, kind, ran);
  } finally {
    ran.release?.();
  }
}

/**
 * Runs a step's kind. Refused for a value of a service that can offer itself
 * another way (the gateway's http:// URL), it is sent once more, that way;
 * but not when the target took the same values in an earlier step of the run:
 * the refusal is then about something else (a pusher whose data holds NaN),
 * and switching would hand every later case a way the target may not trust.
 */
async function runOtherWayIfRefused(run: CaseRun, i: number, step: Step, kind: StepKind): Promise<StepRun> {
  const { env } = run;
  const send = (): Promise<StepRun> => {
    run.stepServices.clear();
    return runKind(kind, step.spec, run.stepContext(i + 1, step.title), env.slots);
  };
  let ran = await send();
  const status = (): number | undefined => ran.observed?.status;
  const refused = (a: Alternative): boolean => {
    const sent = run.stepServices.get(a.service);
    const s = status();
    return s !== undefined && a.status.includes(s) && sent !== undefined && !env.services.wasAccepted(a.service, sent);
  };
  const other = (run.setup.alternatives ?? []).find(refused);
  if (other && (await env.services.alternative(other.service)) !== undefined) {
    ran.release?.();
    run.result.requests += ran.requests;
    ran = await send();
  }
  const s = status();
  if (s !== undefined && s >= 200 && s < 300) for (const [name, sent] of run.stepServices) env.services.accept(name, sent);
  return ran;
}

/** Judges what a step observed: failures and warnings into the result, clean-up and captures for later. Returns whether the next step runs. */
function judgeStep(run: CaseRun, i: number, step: Step, kind: StepKind, ran: StepRun): boolean {
  const { env, result, c } = run;
  result.requests += ran.requests;
  // A step's own waits (a retry window, a quiet period) are part of its design, not of the case's bound.
  run.deadline += ran.waitedMs + (ran.periods ?? []).reduce((sum, p) => sum + p.ms, 0);
  if (ran.periods?.length) (result.periods ??= []).push(...ran.periods.map((p) => ({ step: i + 1, ...p })));
  if (ran.skip !== undefined) {
    result.outcome = 'skipped';
    result.skipReason = ran.skip;
    result.skipCode = ran.skipCode ?? 'step';
    result.skipCause = ran.skipCause ?? 'target';
    return false;
  }
  if (ran.problem) {
    result.outcome = 'errored';
    result.error = { code: ran.problem.code, message: `step ${i + 1} "${step.title}": ${ran.problem.message}`, step: i + 1, ...(ran.problem.exchange ? { exchange: ran.problem.exchange } : {}) };
    return false;
  }
  if (ran.unobserved !== undefined) return judgeUnobserved(run, i, step, ran.unobserved);
  const observed = withoutBaseline(ran, run.setup, run.users);
  const errcode = typeof observed.json === 'object' && observed.json !== null ? (observed.json as { errcode?: unknown }).errcode : undefined;
  if (step.skipIf && answers(step.skipIf, observed, errcode)) {
    result.outcome = 'skipped';
    result.skipReason = `${step.skipIf.reason} (step ${i + 1} "${step.title}" answered ${observed.status}${typeof errcode === 'string' ? ` ${errcode}` : ''})`;
    result.skipCode = 'target';
    result.skipCause = 'target';
    return false;
  }
  if (step.setup && (observed.status === undefined || !step.setup.status.includes(observed.status))) {
    result.outcome = 'errored';
    result.error = { code: 'ERR_SETUP', message: `step ${i + 1} "${step.title}" sets the scene and was answered ${observed.status ?? 'nothing'}, not ${step.setup.status.join(' or ')}: no verdict without it${ran.hint ?? ''}`, step: i + 1, ...(ran.exchange ? { exchange: ran.exchange() } : {}) };
    return false;
  }
  const levelOf = (req: string): 'MUST' | 'SHOULD' => env.spec.requirements.get(req)?.level ?? 'MUST';
  const expectKinds = env.kinds.expects;
  const resolved = step.expect.map((e) => ({ e, checks: e.checks.map((ch): Check => (expectKinds.get(ch.kind)?.resolves ? { kind: ch.kind, value: resolve(ch.value, run.values) } : ch)) }));
  const must = resolved.filter((r) => levelOf(r.e.requirement) === 'MUST').flatMap((r) => r.checks);
  const holds = (ch: Check): boolean => (expectKinds.get(ch.kind)?.evaluate(ch.value, observed) ?? []).length === 0;
  const problem = kind.judgeable?.(ran, must, holds, expectKinds);
  if (problem) {
    result.outcome = 'errored';
    result.error = { code: problem.code, message: `step ${i + 1} "${step.title}": ${problem.message}`, step: i + 1, ...(ran.exchange ? { exchange: ran.exchange() } : {}) };
    return false;
  }
  const mustFailures: CheckFailure[] = [];
  const shouldFailures: CheckFailure[] = [];
  for (const { e, checks } of resolved) {
    const r = env.spec.requirements.get(e.requirement);
    for (const ch of checks) {
      for (const outcome of expectKinds.get(ch.kind)?.evaluate(ch.value, observed) ?? []) {
        const failure: CheckFailure = {
          requirement: e.requirement,
          level: r?.level ?? 'MUST',
          ground: r?.ground ?? 'reading',
          quote: r?.text ?? '',
          link: r ? linkFor(r, env.version, env.spec.editions) : '',
          versions: r ? versionRange(r, env.spec.editions) : '',
          ...outcome,
          step: i + 1,
          stepTitle: step.title,
          source: `${c.file}:${e.line}`,
          ...(ran.exchange ? { exchange: ran.exchange() } : {}),
        };
        (failure.level === 'MUST' ? mustFailures : shouldFailures).push(failure);
      }
    }
  }
  // Values are kept only as much as the reports show: the body judged may be megabytes, and is let go with the step.
  const kept = new Map<unknown, unknown>();
  for (const f of [...mustFailures, ...shouldFailures]) {
    f.expected = bounded(f.expected, kept);
    f.actual = bounded(f.actual, kept);
  }
  result.failures.push(...mustFailures);
  // A SHOULD check on a step whose MUST checks already failed says nothing more: the answer was wrong anyway.
  if (mustFailures.length === 0) result.warnings.push(...shouldFailures);
  for (const [name, ptr] of Object.entries(step.capture)) run.vars.set(name, pointer(observed.json, ptr));
  if (env.cleanup && ran.sent) planCleanup(run, ran.sent, ran.sentJson, observed);
  // The answer leaves nothing for the later steps to judge (a value refused is not there to be forwarded).
  if (step.endIf && answers(step.endIf, observed, errcode)) return false;
  return mustFailures.length === 0;
}

/**
 * Nothing arrived where something had to: the expectations of arrival fail
 * with the reason (all of them when the step states none), once per
 * requirement; what the observation would have held is not judged.
 */
function judgeUnobserved(run: CaseRun, i: number, step: Step, why: string): boolean {
  const { env, result, c } = run;
  const arrival = step.expect.filter((e) => e.checks.some((ch) => env.kinds.expects.get(ch.kind)?.judgesArrival));
  const cited = new Set<string>();
  for (const e of arrival.length > 0 ? arrival : step.expect) {
    if (cited.has(e.requirement)) continue;
    cited.add(e.requirement);
    const r = env.spec.requirements.get(e.requirement);
    const failure: CheckFailure = { requirement: e.requirement, level: r?.level ?? 'MUST', ground: r?.ground ?? 'reading', quote: r?.text ?? '', link: r ? linkFor(r, env.version, env.spec.editions) : '', versions: r ? versionRange(r, env.spec.editions) : '', check: step.kind, expected: 'an observation', actual: null, message: why, step: i + 1, stepTitle: step.title, source: `${c.file}:${e.line}` };
    (failure.level === 'MUST' ? result.failures : result.warnings).push(failure);
  }
  return ![...cited].some((id) => env.spec.requirements.get(id)?.level !== 'SHOULD');
}

/** The clean-up requests the edition's rules make of a request the case sent and its answer. */
function planCleanup(run: CaseRun, sent: HttpRequest, sentJson: unknown, observed: Observed): void {
  // The user a request acted as: its token in the Authorization header, or in the access_token query parameter.
  const token = sent.headers['authorization']?.replace(/^Bearer /, '') ?? queryToken(sent.url);
  const user = run.users.find((u) => token === u.accessToken);
  if (!user) return;
  // Parsed once for every rule: a run sends hundreds of requests, each checked against every rule.
  let path: string[] | undefined;
  for (const rule of run.setup.cleanup) {
    if (rule.after.method !== sent.method) continue;
    path ??= pathSegments(sent.url);
    const matched = pathMatch(rule.after.path, path);
    if (!matched) continue;
    if (rule.after.status !== undefined && !(Array.isArray(rule.after.status) ? rule.after.status : [rule.after.status]).includes(observed.status ?? -1)) continue;
    if (rule.after.sent !== undefined && match(rule.after.sent, sentJson, 'includes').length > 0) continue;
    run.pending.push(cleanupFor(rule, user, sentJson, observed.json, matched));
  }
}

/** The variables a value reads with {$var: NAME}. */
function readsVars(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) readsVars(v, out);
  else if (typeof value === 'object' && value !== null) {
    const v = (value as Record<string, unknown>)['$var'];
    if (typeof v === 'string') out.push(v);
    for (const x of Object.values(value)) readsVars(x, out);
  }
  return out;
}

/**
 * A case that did not pass keeps every exchange of its steps up to the last
 * one that failed: what led to a failure is often an earlier answer (the
 * delete that removed another user's pusher, the gateway's 500).
 */
function keepExchanges(result: CaseResult, env: CaseEnv): void {
  if (result.outcome !== 'failed' && result.outcome !== 'errored' && result.outcome !== 'warned') return;
  const steps = new Set([...result.failures, ...result.warnings].map((f) => f.step));
  if (result.error?.step !== undefined) steps.add(result.error.step);
  if (steps.size === 0 && typeof env.scope.step === 'number') steps.add(env.scope.step);
  const { exchanges, omitted } = env.scope.record(steps, env.redactor);
  if (exchanges.length) result.exchanges = exchanges;
  if (omitted) result.exchangesOmitted = omitted;
}

/**
 * Reads what each user holds before the case, when the case reads it (one of
 * its steps sends the baseline request) and the user has been used before: a
 * given account, or a pool user an earlier case may have left something with,
 * even when that case's clean-up was answered 200 by a server that then kept
 * what it was asked to delete.
 */
async function readBaselines(c: Case, users: readonly User[], setup: EditionSetup, env: CaseEnv): Promise<void> {
  const b = setup.baseline;
  if (!b) return;
  const reads = c.steps.some((s) => {
    const spec = s.spec as { method?: unknown; path?: unknown } | undefined;
    return s.kind === 'request' && spec?.method === b.request.method && spec.path === b.request.path;
  });
  for (const u of users) {
    if (!u.used || !reads) {
      u.baseline.set(env.edition.id, new Set());
      continue;
    }
    try {
      const { res } = await env.client.send({ method: b.request.method, url: env.base + b.request.path, headers: { authorization: `Bearer ${u.accessToken}` } });
      const shape = jsonShape(res.text);
      const release = await env.bodies.acquire(res.text.length, shape.values);
      try {
        // A body nested deeper than any check reads is no baseline; the case's own request of it errors as too deep.
        const list = res.status === 200 && shape.depth <= MAX_JSON_DEPTH ? pointer(parseJson(res.text).json, b.list) : undefined;
        u.baseline.set(env.edition.id, new Set(Array.isArray(list) ? list.map((item) => itemKey(item, b.key)) : []));
      } finally {
        release();
      }
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      u.baseline.set(env.edition.id, new Set());
    }
  }
}

/** Leaves out of a baseline answer the items its user held before the case, so "exactly these" speaks of the case's own. */
function withoutBaseline(ran: StepRun, setup: EditionSetup, users: readonly User[]): Observed {
  const o = ran.observed as Observed;
  const b = setup.baseline;
  if (!b || !ran.sent || ran.sent.method !== b.request.method || !pathMatches(b.request.path, ran.sent.url)) return o;
  const token = ran.sent.headers['authorization']?.replace(/^Bearer /, '') ?? queryToken(ran.sent.url);
  const user = users.find((u) => token === u.accessToken);
  const seen = user ? [...user.baseline.values()].flatMap((s) => [...s]) : [];
  if (seen.length === 0) return o;
  const held = new Set(seen);
  const list = pointer(o.json, b.list);
  if (!Array.isArray(list) || b.list === '') return o;
  const filtered = list.filter((item) => !held.has(itemKey(item, b.key)));
  return { ...o, json: setPointer(o.json, b.list, filtered) };
}

/** A copy of `doc` with the value at `ptr` replaced. */
function setPointer(doc: unknown, ptr: string, value: unknown): unknown {
  const [head, ...rest] = ptr.slice(1).split('/');
  const key = (head as string).replace(/~1/g, '/').replace(/~0/g, '~');
  if (Array.isArray(doc)) {
    const copy = [...doc];
    copy[Number(key)] = rest.length ? setPointer(copy[Number(key)], '/' + rest.join('/'), value) : value;
    return copy;
  }
  const obj = doc as Record<string, unknown>;
  return { ...obj, [key]: rest.length ? setPointer(obj[key], '/' + rest.join('/'), value) : value };
}

/** The clean-up request a rule makes of a step's request and answer. */
function cleanupFor(rule: CleanupRule, user: User, sent: unknown, received: unknown, matched: readonly string[]): Pending {
  const key = rule.key ? `${user.accessToken}\n${JSON.stringify(rule.send.path)}\n${rule.key.map((k) => JSON.stringify(pointer(sent, k))).join('\n')}` : undefined;
  try {
    const vctx: ValueContext = { unique: () => '', variable: () => undefined, userId: () => '', template: () => undefined, sent: (ptr) => pointer(sent, ptr), received: (ptr) => pointer(received, ptr), matched: (n) => matched[n - 1] };
    const path = typeof rule.send.path === 'string' ? rule.send.path : (rule.send.path as unknown[]).map((part, i) => (i === 0 || typeof part === 'string' ? String(part) : encodeURIComponent(asKey(resolve(part, vctx), segmentName(part, i))))).join('');
    const json = rule.send.json === undefined ? undefined : resolve(rule.send.json, vctx);
    return { user, ...(key === undefined ? {} : { key }), request: { method: rule.send.method, path, ...(json === undefined ? {} : { json }) } };
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    return { user, ...(key === undefined ? {} : { key }) };
  }
}

/** Sends the clean-up requests, newest first; a failure does not change the verdict, but the users are then not clean. */
async function cleanup(pending: readonly Pending[], env: CaseEnv): Promise<boolean> {
  let clean = true;
  const seen = new Set<string>();
  for (const p of [...pending].reverse()) {
    if (p.key !== undefined) {
      if (seen.has(p.key)) continue;
      seen.add(p.key);
    }
    if (!p.request) {
      clean = false;
      continue;
    }
    const { method, path, json } = p.request;
    try {
      const { res } = await env.client.send(
        { method, url: env.base + path, headers: { authorization: `Bearer ${p.user.accessToken}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) }, ...(json === undefined ? {} : { body: JSON.stringify(json) }) },
        { followRedirects: env.followRedirects },
      );
      if (res.status !== 200) clean = false;
    } catch {
      // The verdict is already made; an unreachable target shows up elsewhere.
      clean = false;
    }
  }
  return clean;
}
