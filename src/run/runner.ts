/**
 * The run: preflight, which editions and versions to judge, which cases hold
 * there, the user pool, concurrency, and results as they finish. The editions
 * and their rules are data (spec/editions.yaml, spec/pushers.md); this module
 * knows no endpoint of any of them.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { TargetError } from '../errors.js';
import { HttpClient, TransportError } from '../http/client.js';
import { Redactor } from '../http/redact.js';
import { observing, Transport, type RateLimitWait } from '../http/transport.js';
import type { TraceEntry } from '../http/har.js';
import type { Case, Suite } from '../cases/types.js';
import { conforms } from '../schemas.js';
import { chooseVersion, type EditionInfo, type VersionChoice } from '../spec/editions.js';
import { inForce, loadSpec, type Edition, type SpecText } from '../spec/requirements.js';
import { suiteInfo } from '../version.js';
import { BodyBudget } from './budget.js';
import { runCase } from './case.js';
import type { Kinds } from './kinds.js';
import { CaseScope, ownerOf, SETUP_TAG } from './journal.js';
import { Services, type ServiceSpec } from './services.js';
import { Slots } from './slots.js';
import type { ReceivedExchange } from '../service.js';
import { parseJson } from '../json.js';
import type { CaseResult, RunMeta, RunReport, SkipCause, WaitEvent } from './types.js';
import { describeAnswer, GivenUsers, RegisteringPool, type Credential, type UserSource } from './users.js';

export interface RunOptions {
  /** Base URL of the homeserver, without a trailing slash. */
  target: string;
  /** Editions to run, or 'auto': the editions the target advertises. */
  editions: readonly Edition[] | 'auto';
  suite: Suite;
  /** The step and expectation kinds the suite was loaded with: the core's and the areas' (src/kinds.ts). */
  kinds: Kinds;
  strict?: boolean;
  /** Cases sending requests at once (default DEFAULT_JOBS); a case only waiting for the target holds none. */
  jobs?: number;
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** Only cases whose id, title or tags contain this text. */
  grep?: string;
  cleanup?: boolean;
  followRedirects?: boolean;
  /** Marks the report as a run against the bundled reference server. */
  embedded?: boolean;
  /** Judge the v1 edition by this version instead of the newest the target advertises. */
  specVersion?: string;
  /** Called once the run knows what it will do, before the first case. */
  onStart?: (plan: Plan) => void;
  /** Called as each case ends (any order); the report itself keeps suite order. */
  onResult?: (r: CaseResult, progress: { done: number; total: number; running: number; failed: number }) => void;
  /** Completes m.login.registration_token stages when registering users. */
  registrationToken?: string;
  /** Accounts to use instead of registering fresh users (--user, --access-token). */
  credentials?: readonly Credential[];
  /** Run every case this many times and report cases whose outcome varies. */
  repeat?: number;
  spec?: SpecText;
  /** How long one request may wait out 429s in all (default 60 s). */
  rateLimitBudgetMs?: number;
  /** Called before each wait for a rate limit. */
  onRateLimit?: (wait: RateLimitWait) => void;
  /** Called when a step has waited a second and waits on (for a poke, a retry, a quiet period), and when that wait ends. */
  onWait?: (wait: WaitEvent) => void;
  /** Stops the run: no new case starts; finished cases are reported, the rest as not run. */
  signal?: AbortSignal;
  /** Sees every exchange of the run, tagged with its case and step, pokes to the run's services included (for --trace). */
  onExchange?: (x: TraceEntry) => void;
  /** The run's redactor, for outputs the caller writes itself (--trace); one is made when none is given. */
  redactor?: Redactor;
  /** Services cases may need, by name (the mock push gateway, …). */
  services?: ReadonlyMap<string, ServiceSpec>;
  /** Bytes of large answers the cases judge at once (see budget.ts). */
  bodyBudgetBytes?: number;
}

/** What planning a run reads: it runs no step, so it needs no kinds. */
export type PlanOptions = Omit<RunOptions, 'kinds'>;

/**
 * Cases sending requests at once (a case waiting for a poke gives up its
 * slot meanwhile). Against a target 50 ms away, 16 gives about 11×
 * the speed of one-by-one with ~20 requests in flight, gentle enough for a
 * real homeserver; above it each doubling gains less (npm run bench).
 */
export const DEFAULT_JOBS = 16;

export interface Preflight {
  versions: unknown;
  /** The well-formed version strings of the answer. */
  advertised: string[];
  server?: string;
}

/**
 * Asks GET /_matrix/client/versions: a target that does not answer it with a
 * versions list is not a Matrix server, and nothing more is sent to it.
 */
export async function preflight(client: Transport, base: string, redactor = new Redactor()): Promise<Preflight> {
  let res;
  try {
    // A rate limit on the very first request is waited out like any other.
    ({ res } = await client.send({ method: 'GET', url: `${base}/_matrix/client/versions`, headers: {} }));
  } catch (err) {
    if (err instanceof TransportError) throw new TargetError('ERR_TARGET_UNREACHABLE', `${base} is unreachable: ${err.message}`);
    throw err;
  }
  const { json: body } = parseJson(res.text);
  if (res.status !== 200 || !conforms('versions-response', body)) {
    throw new TargetError('ERR_TARGET_NOT_MATRIX', `${base} is not a Matrix homeserver: GET /_matrix/client/versions answered ${describeAnswer(res, redactor)}${body === undefined ? '' : ', without a versions list'}`);
  }
  // Keep only what provenance needs, as plain strings and booleans: the target decides the rest of the body.
  const versions = (body as { versions: unknown[] }).versions.filter((v): v is string => typeof v === 'string').slice(0, 100).map((v) => v.slice(0, 64));
  const unstable = (body as { unstable_features?: unknown }).unstable_features;
  const flags = typeof unstable === 'object' && unstable !== null && !Array.isArray(unstable) ? Object.fromEntries(Object.entries(unstable).filter(([, v]) => typeof v === 'boolean').slice(0, 200)) : undefined;
  return { versions: { versions, ...(flags ? { unstable_features: flags } : {}) }, advertised: versions, ...(res.headers['server'] ? { server: res.headers['server'].slice(0, 200) } : {}) };
}

/** Cases of the suite in the given editions whose id, title or tags contain `grep`. */
export function selectCases(suite: Suite, editions: readonly string[], grep?: string): Case[] {
  const needle = grep?.toLowerCase();
  return suite.cases.filter((c) => editions.includes(c.edition) && (!needle || [c.id, c.title, ...c.tags].some((s) => s.toLowerCase().includes(needle))));
}

/**
 * Whether the target serves an edition it does not advertise: an
 * unauthenticated request to one of its endpoints. 404 or 405 with
 * M_UNRECOGNIZED (or no JSON at all) means the endpoint is not there; any
 * other answer (401 above all) means it is.
 */
async function probe(client: Transport, base: string, e: EditionInfo): Promise<string | undefined> {
  const body = e.probe.json === undefined ? undefined : JSON.stringify(e.probe.json);
  try {
    const { res } = await client.send({ method: e.probe.method, url: base + e.prefix + e.probe.path, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
    if (res.status !== 404 && res.status !== 405) return undefined;
    const { json } = parseJson(res.text);
    const errcode = typeof json === 'object' && json !== null ? (json as { errcode?: unknown }).errcode : undefined;
    if (errcode === undefined || errcode === 'M_UNRECOGNIZED' || errcode === 'M_NOT_FOUND') return `${e.probe.method} ${e.prefix}${e.probe.path} answered ${res.status}${typeof errcode === 'string' ? ` ${errcode}` : ''}, and the target does not advertise the edition`;
    return undefined;
  } catch (err) {
    if (err instanceof TransportError) return undefined;
    throw err;
  }
}

/** What a run will do, known before its first case: shown by the header and by --list. */
export interface Plan {
  target: string;
  preflight: Preflight;
  editions: Edition[];
  /** Per edition: the version judged and why. */
  versions: Record<string, VersionChoice>;
  /** Editions the target does not serve, with the reason. */
  notServed: Record<string, string>;
  /** Every case of the chosen editions that --grep selects, in suite order. */
  cases: Case[];
  /** Of those, the ones left out, by id: why (not in force in the version judged, edition not served), and what that means. */
  left: Map<string, { code: string; reason: string; cause: SkipCause }>;
}

export async function planRun(options: PlanOptions, client: Transport, spec: SpecText, redactor: Redactor, services = new Services(options.services)): Promise<Plan> {
  const base = options.target.replace(/\/+$/, '');
  const pre = await preflight(client, base, redactor);
  const advertisedEditions = [...spec.editions.values()].filter((e) => pre.advertised.some((v) => e.advertised?.test(v))).map((e) => e.id as Edition);
  const editions = options.editions === 'auto' ? advertisedEditions : [...options.editions];
  if (editions.length === 0) {
    throw new TargetError('ERR_TARGET_EDITION', `${base} advertises no version this suite covers (versions: ${JSON.stringify(pre.advertised).slice(0, 300)}); choose one with --edition`);
  }
  const versions: Record<string, VersionChoice> = {};
  const notServed: Record<string, string> = {};
  for (const id of editions) {
    const e = spec.editions.get(id) as EditionInfo;
    versions[id] = chooseVersion(e, pre.advertised, id === 'v1' ? options.specVersion : undefined);
    if (!advertisedEditions.includes(id)) {
      const why = await probe(client, base, e);
      if (why) notServed[id] = why;
    }
  }
  const cases = selectCases(options.suite, editions, options.grep);
  const left: Plan['left'] = new Map();
  for (const c of cases) {
    const version = (versions[c.edition] as VersionChoice).version;
    const out = c.requirements.map((id) => spec.requirements.get(id)).filter((r) => r && !inForce(r, version, spec.editions));
    // The version first: a case outside it is left out whatever else the run could or could not offer.
    if (out.length) {
      left.set(c.id, { code: 'version', cause: 'version', reason: `not in ${version}: ${out.map((r) => `${r?.id} holds ${r?.until ? `from ${r.since} until ${r.until}` : `from ${r?.since}`}`).join('; ')}` });
      continue;
    }
    const missing = c.needs.map((n) => [n, services.unavailable(n)] as const).find(([, why]) => why !== undefined);
    // The user's own choice (--no-delivery) next: it is what left the case out, whatever the target serves.
    if (missing && services.declined(missing[0])) {
      left.set(c.id, { code: `needs-${missing[0]}`, cause: 'choice', reason: missing[1] as string });
      continue;
    }
    if (notServed[c.edition]) {
      left.set(c.id, { code: 'not-served', cause: 'not-served', reason: `the target does not serve edition ${c.edition}: ${notServed[c.edition]}` });
      continue;
    }
    if (missing) left.set(c.id, { code: `needs-${missing[0]}`, cause: 'target', reason: missing[1] as string });
  }
  return { target: base, preflight: pre, editions, versions, notServed, cases, left };
}

/** Folds repetitions of one case into one result as they finish, keeping only what the report needs. */
class Repeats {
  private merged: CaseResult | undefined;
  private readonly outcomes: CaseResult['outcome'][] = [];
  private durationMs = 0;
  private requests = 0;

  add(r: CaseResult): void {
    this.outcomes.push(r.outcome);
    this.durationMs += r.durationMs;
    this.requests += r.requests;
    // The first repetition that did not pass keeps its problems; the others keep only their outcome.
    if (!this.merged || (this.merged.outcome === 'passed' && r.outcome !== 'passed')) this.merged = r;
  }

  result(): CaseResult {
    const base = this.merged as CaseResult;
    if (this.outcomes.length === 1) return base;
    const merged: CaseResult = { ...base, durationMs: this.durationMs / this.outcomes.length, requests: this.requests };
    const kinds = [...new Set(this.outcomes)];
    if (kinds.length > 1) {
      const counts = kinds.map((o) => `${o} ×${this.outcomes.filter((x) => x === o).length}`).join(', ');
      merged.flaky = [...this.outcomes];
      merged.outcome = 'errored';
      merged.error = { code: 'ERR_FLAKY', message: `the outcome varies across ${this.outcomes.length} runs (${counts})${base.error ? `; first problem: ${base.error.message}` : ''}` };
    }
    return merged;
  }
}

export async function run(options: RunOptions): Promise<RunReport> {
  const { signal, dispose: forgetSignal } = runSignal(options.signal);
  const startedAt = new Date();
  const spec = options.spec ?? loadSpec();
  const redactor = options.redactor ?? new Redactor();
  let rateLimitedMs = 0;
  /** The cases running, by sequence number, and every case that ran (a poke may come after its case ended). */
  const scopes = new Map<number, CaseScope>();
  const owners = new Map<number, string>();
  const client = new Transport(new HttpClient({ timeoutMs: options.timeoutMs ?? 10_000, maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024 }), {
    ...(options.rateLimitBudgetMs !== undefined ? { rateLimitBudgetMs: options.rateLimitBudgetMs } : {}),
    onRateLimit: (w) => {
      rateLimitedMs += w.waitMs;
      options.onRateLimit?.({ ...w, url: redactor.apply(w.url) });
    },
    // A case's own requests go through a view that tags them (see runOne); these are the run's set-up.
    onExchange: (x) => options.onExchange?.({ ...x, ...SETUP_TAG }),
    ...(signal ? { signal } : {}),
  });
  const runId = randomBytes(4).toString('hex');
  const services = new Services(options.services, { runId });
  const bodies = new BodyBudget(options.bodyBudgetBytes);
  const received = (name: string) => (x: ReceivedExchange): void => {
    const seq = ownerOf(x, runId);
    const scope = seq === undefined ? undefined : scopes.get(seq);
    scope?.received(name, x);
    const owner = seq === undefined ? undefined : owners.get(seq);
    options.onExchange?.({ req: x.req, res: x.res, started: x.started, ms: x.res.durationMs, timings: x.res.timings, from: name, ...(scope ? scope.tag : owner ? { case: owner, step: 'after' } : SETUP_TAG) });
  };
  try {
    const plan = await planRun(options, client, spec, redactor, services);
    // The services the cases to run need, started before the first of them (their values are read synchronously).
    const needed = new Set(plan.cases.filter((c) => !plan.left.has(c.id)).flatMap((c) => c.needs));
    for (const name of needed) (await services.start(name)).observe?.(received(name));
    options.onStart?.(plan);
    const base = plan.target;
    const users: UserSource = options.credentials?.length
      ? new GivenUsers(client, base, redactor, options.credentials)
      : // Half the job slots register at once: the delivery cases, which start first, need two users each.
        new RegisteringPool(client, base, runId, redactor, options.registrationToken, Math.max(1, Math.min(8, Math.ceil((options.jobs ?? DEFAULT_JOBS) / 2))));
    const repeat = Math.max(1, options.repeat ?? 1);
    const total = plan.cases.length;
    const merged = plan.cases.map(() => new Repeats());
    const pendingRuns = plan.cases.map(() => repeat);
    const results: Array<CaseResult | undefined> = plan.cases.map(() => undefined);
    let done = 0;
    let running = 0;
    let failed = 0;
    const finishCase = (i: number, r: CaseResult): void => {
      results[i] = r;
      done++;
      if (['failed', 'errored'].includes(r.outcome) || (options.strict && r.outcome === 'warned')) failed++;
      options.onResult?.(r, { done, total, running, failed });
    };
    // Cases left out are results at once, in suite order with the rest.
    plan.cases.forEach((c, i) => {
      const why = plan.left.get(c.id);
      if (why) finishCase(i, { id: c.id, title: c.title, edition: c.edition, area: c.area, file: c.file, requirements: c.requirements, tags: c.tags, outcome: 'skipped', skipReason: why.reason, skipCode: why.code, skipCause: why.cause, failures: [], warnings: [], durationMs: 0, requests: 0 });
    });
    // The cases that may wait longest go first: their waits then overlap the rest of the run instead of ending it.
    const weights = plan.cases.map((c) => waitWeight(c, options.kinds));
    const queue = plan.cases.flatMap((c, i) => (plan.left.has(c.id) ? [] : Array.from({ length: repeat }, () => i))).sort((a, b) => (weights[b] as number) - (weights[a] as number));
    let seq = 0;
    const slots = new Slots(options.jobs ?? DEFAULT_JOBS);
    const runOne = async (i: number): Promise<void> => {
      const c = plan.cases[i] as Case;
      running++;
      let r: CaseResult;
      const mine = seq++;
      const scope = new CaseScope(c.id, performance.now());
      scopes.set(mine, scope);
      owners.set(mine, c.id);
      try {
        r = await runCase(c, {
          client: observing(client, (x) => {
            scope.sent(x.req, x.res, x.at, x.ms, x.error, x.timings);
            options.onExchange?.({ ...x, ...scope.tag });
          }),
          base,
          runId,
          seq: mine,
          scope,
          spec,
          suite: options.suite,
          kinds: options.kinds,
          edition: spec.editions.get(c.edition) as EditionInfo,
          version: (plan.versions[c.edition] as VersionChoice).version,
          users,
          redactor,
          services,
          cleanup: options.cleanup ?? true,
          followRedirects: options.followRedirects ?? false,
          timeoutMs: options.timeoutMs ?? 10_000,
          slots,
          bodies,
          ...(signal ? { signal } : {}),
          ...(options.onWait ? { onWait: options.onWait } : {}),
        });
      } finally {
        running--;
        scopes.delete(mine);
        bodies.changed();
      }
      if (r.error?.code === 'ERR_INTERRUPTED') return;
      (merged[i] as Repeats).add(r);
      pendingRuns[i] = (pendingRuns[i] as number) - 1;
      if (pendingRuns[i] === 0) finishCase(i, (merged[i] as Repeats).result());
    };
    // A bug or a target that stops giving users ends the run: no new case starts, the running ones end.
    let failure: { error: unknown } | undefined;
    const started: Array<Promise<void>> = [];
    try {
      const jobs = options.jobs ?? DEFAULT_JOBS;
      for (const i of queue) {
        // Fewer cases sending at the start and while large answers keep coming (budget.ts); cases only waiting hold no slot.
        while (slots.busy >= bodies.jobs(jobs) && !signal?.aborted && !failure) await bodies.whenChanged();
        await slots.take();
        if (signal?.aborted || failure) {
          slots.release();
          break;
        }
        started.push(
          runOne(i)
            .catch((error: unknown) => void (failure ??= { error }))
            .finally(() => {
              slots.release();
              // The loop may be waiting for the body budget to let one more case send: a slot given back is a change too.
              bodies.changed();
            }),
        );
      }
      await Promise.all(started);
    } finally {
      await users.close();
    }
    if (failure) throw failure.error;
    const interrupted = signal?.aborted === true && results.some((r) => r === undefined);
    const finishedAt = new Date();
    const meta: RunMeta = {
      suite: suiteInfo(),
      target: redactor.apply(base),
      embedded: options.embedded ?? false,
      editions: plan.editions,
      areas: Object.fromEntries([...spec.areas.values()].map((a) => [a.id, { title: a.title }])),
      strict: options.strict ?? false,
      // Asked before any token was issued: redacted again now, for a target that named a token it was going to issue.
      versions: redactedJson(plan.preflight.versions, redactor),
      specVersions: Object.fromEntries(Object.entries(plan.versions).map(([k, v]) => [k, { ...v }])),
      ...(Object.keys(plan.notServed).length ? { notServed: plan.notServed } : {}),
      ...(plan.preflight.server ? { server: redactor.apply(plan.preflight.server) } : {}),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      ...(repeat > 1 ? { repeat } : {}),
      ...(interrupted ? { interrupted: true } : {}),
      ...(rateLimitedMs > 0 ? { rateLimitedMs: Math.round(client.rateLimited.sumMs), rateLimitedWallMs: Math.round(client.rateLimited.wallMs) } : {}),
      users: users.opened,
    };
    return {
      meta,
      results: plan.cases.map((c, i) => results[i] ?? { id: c.id, title: c.title, edition: c.edition, area: c.area, file: c.file, requirements: c.requirements, tags: c.tags, outcome: 'notrun', skipReason: 'the run was interrupted before this case finished', skipCode: 'interrupted', failures: [], warnings: [], durationMs: 0, requests: 0 }),
    };
  } finally {
    forgetSignal();
    await services.close();
    await client.close();
  }
}

/** How long a case may wait beyond its requests, as its step kinds estimate it. */
function waitWeight(c: Case, kinds: Kinds): number {
  return c.steps.reduce((sum, step) => sum + (kinds.steps.get(step.kind)?.waitWeight?.(step.spec) ?? 0), 0);
}

/** A JSON value (of bounded depth: what the preflight kept) with every secret the redactor knows replaced, in keys and strings. */
function redactedJson(value: unknown, redactor: Redactor, depth = 0): unknown {
  if (typeof value === 'string') return redactor.apply(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactedJson(v, redactor, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactor.apply(k), redactedJson(v, redactor, depth + 1)]));
}

/** What a run would do against its target, without running a case (for --list). */
export async function plan(options: PlanOptions): Promise<Plan> {
  const spec = options.spec ?? loadSpec();
  const redactor = options.redactor ?? new Redactor();
  const client = new Transport(new HttpClient({ timeoutMs: options.timeoutMs ?? 10_000, maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024 }), { ...(options.rateLimitBudgetMs !== undefined ? { rateLimitBudgetMs: options.rateLimitBudgetMs } : {}) });
  try {
    return await planRun(options, client, spec, redactor);
  } finally {
    await client.close();
  }
}

/**
 * The run's own signal, aborted with the caller's: every case that waits (a
 * poke, a quiet period, a rate limit) listens to it, often more than ten at
 * once, which is no leak. The caller's signal gets one listener, removed when
 * the run ends (dispose), so a signal given to many runs in turn keeps none.
 */
function runSignal(outer: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (outer === undefined) return { signal: undefined, dispose: () => undefined };
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const abort = (): void => controller.abort();
  if (outer.aborted) abort();
  else outer.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, dispose: () => outer.removeEventListener('abort', abort) };
}
