import type { Case, Expectation, Suite } from '../cases/types.js';
import { TargetError } from '../errors.js';
import { pointer, resolve, ValueError, type ValueContext } from '../cases/values.js';
import { TransportError, type HttpRequest, type HttpResponse } from '../http/client.js';
import type { Transport } from '../http/transport.js';
import type { Redactor } from '../http/redact.js';
import type { SpecText } from '../spec/requirements.js';
import { evaluate } from './checks.js';
import { curlFor, recordExchange } from './exchange.js';
import type { CaseResult, CheckFailure, Exchange } from './types.js';
import { pusherKey, type User, type UserSource } from './users.js';

export interface CaseEnv {
  client: Transport;
  base: string;
  runId: string;
  seq: number;
  spec: SpecText;
  suite: Suite;
  users: UserSource;
  redactor: Redactor;
  /** Delete the pushers the case created once it ends, so a shared server is left as it was. */
  cleanup: boolean;
  followRedirects: boolean;
  timeoutMs: number;
}

/** A token no server issued: long, random-looking, and not a secret. */
const INVALID_TOKEN = 'syt_conformance_not_a_token_0000000000000000';

/**
 * Deeper JSON than any pushers answer needs. Past it, checks and reports
 * (which walk values recursively) could overflow the stack on what a target
 * sent, so such a body is an error, not something to judge.
 */
const MAX_JSON_DEPTH = 256;

/** How deeply arrays and objects nest in a JSON text (brackets inside strings do not count). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Replaces every secret in a value the reports will show (a message, an expected or actual value). */
function redactValue(value: unknown, redactor: Redactor): unknown {
  if (typeof value === 'string') return redactor.apply(value);
  if (value === undefined) return value;
  const text = JSON.stringify(value);
  const redacted = redactor.apply(text);
  if (redacted === text) return value;
  try {
    return JSON.parse(redacted) as unknown;
  } catch {
    return redacted;
  }
}

function parseJson(text: string): { json: unknown; isJson: boolean } {
  if (text.trim() === '') return { json: undefined, isJson: false };
  try {
    return { json: JSON.parse(text) as unknown, isJson: true };
  } catch {
    return { json: undefined, isJson: false };
  }
}

/**
 * Runs one case: acquires its users, sends its steps in order, and turns every
 * check that fails into data. A step with a MUST failure ends the case, since
 * later steps build on it; SHOULD failures are recorded and the case goes on.
 */
export async function runCase(c: Case, env: CaseEnv): Promise<CaseResult> {
  const started = performance.now();
  const result: CaseResult = { id: c.id, title: c.title, edition: c.edition, file: c.file, requirements: c.requirements, tags: c.tags, outcome: 'passed', failures: [], warnings: [], durationMs: 0, requests: 0 };
  const finish = (): CaseResult => {
    result.durationMs = performance.now() - started;
    // Targets may repeat a secret back (in an error text, a Location, a body): nothing the reports show keeps it.
    if (result.error) result.error.message = env.redactor.apply(result.error.message);
    for (const f of [...result.failures, ...result.warnings]) {
      f.message = env.redactor.apply(f.message);
      f.expected = redactValue(f.expected, env.redactor);
      f.actual = redactValue(f.actual, env.redactor);
    }
    if (result.outcome === 'passed' && result.failures.length) result.outcome = 'failed';
    else if (result.outcome === 'passed' && result.warnings.length) result.outcome = 'warned';
    return result;
  };

  let users: User[] = [];
  if (c.users.length) {
    let got;
    try {
      got = await env.users.acquire(c.users);
    } catch (err) {
      // The message may quote the target's answer, which may repeat a password or token back.
      if (err instanceof TargetError) throw new TargetError(err.code as ConstructorParameters<typeof TargetError>[0], env.redactor.apply(err.message));
      throw err;
    }
    if ('skip' in got) {
      result.outcome = 'skipped';
      result.skipReason = got.skip;
      return finish();
    }
    users = got;
  }
  try {
    return await runSteps(c, env, users, result, started, finish);
  } finally {
    env.users.release?.(users);
  }
}

async function runSteps(c: Case, env: CaseEnv, users: User[], result: CaseResult, started: number, finish: () => CaseResult): Promise<CaseResult> {
  const byAlias = new Map(users.map((u) => [u.alias, u]));
  const uniques = new Map<string, string>();
  const vars = new Map<string, unknown>();
  const ctx: ValueContext = {
    unique: (name) => {
      let v = uniques.get(name);
      if (v === undefined) {
        v = `${name}-${env.runId}-${env.seq}`;
        uniques.set(name, v);
      }
      return v;
    },
    variable: (name) => vars.get(name),
    userId: (alias) => byAlias.get(alias)?.userId ?? '',
    template: (name) => env.suite.templates[c.edition][name],
  };
  const created: Array<{ user: User; path: string; app_id: string; pushkey: string }> = [];
  // Every request is bounded by the per-request timeout; the case as a whole by
  // one timeout per request it may send, plus what it spends waiting out rate limits.
  let deadline = started + env.timeoutMs * (c.steps.length + 2);

  try {
    // The requests of the steps so far: a failure shows them, so it can be reproduced from the start.
    const earlier: HttpRequest[] = [];
    for (const [i, step] of c.steps.entries()) {
      const headers: Record<string, string> = {};
      const user = byAlias.get(step.request.auth);
      if (user) headers['authorization'] = `Bearer ${user.accessToken}`;
      else if (step.request.auth === 'invalid') headers['authorization'] = `Bearer ${INVALID_TOKEN}`;
      let body: string | Uint8Array | undefined;
      let sentJson: unknown;
      if (step.request.raw !== undefined) body = step.request.raw;
      else if (step.request.raw_base64 !== undefined) body = Buffer.from(step.request.raw_base64, 'base64');
      else if (step.request.json !== undefined) {
        sentJson = resolve(step.request.json, ctx);
        body = JSON.stringify(sentJson);
      }
      if (body !== undefined) headers['content-type'] = step.request.content_type ?? 'application/json';
      const req: HttpRequest = { method: step.request.method, url: env.base + step.request.path, headers, ...(body === undefined ? {} : { body }) };

      if (performance.now() > deadline) {
        result.outcome = 'errored';
        result.error = { code: 'ERR_CASE_TIMEOUT', message: `step ${i + 1} "${step.title}": the case ran past its bound of ${Math.round(deadline - started)} ms`, step: i + 1 };
        return finish();
      }
      let res: HttpResponse;
      try {
        const sent = await env.client.send(req, { followRedirects: env.followRedirects, deadline });
        // Time spent waiting out rate limits does not count against the case's bound.
        deadline += sent.waitedMs;
        res = sent.res;
        result.requests += sent.attempts;
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        result.outcome = 'errored';
        result.error = { code: err.code, message: `step ${i + 1} "${step.title}": ${err.message}`, step: i + 1, exchange: { ...recordExchange(req, undefined, env.redactor, 0), ...(earlier.length ? { before: earlier.map((r) => curlFor(r, env.redactor)) } : {}) } };
        return finish();
      }
      let shown: Exchange | undefined;
      const exchange = (): Exchange => (shown ??= { ...recordExchange(req, res, env.redactor, res.durationMs), ...(earlier.length ? { before: earlier.map((r) => curlFor(r, env.redactor)) } : {}) });
      const observed = { status: res.status, ...parseJson(res.text) };
      const tooDeep = observed.isJson && jsonDepth(res.text) > MAX_JSON_DEPTH;
      if (tooDeep) observed.json = undefined;
      if (user?.baseline?.size && step.request.method === 'GET' && step.request.path.endsWith('/pushers')) observed.json = withoutBaseline(observed.json, user.baseline);
      // A body that is not JSON is an error (no verdict) where a MUST check reads it or
      // the status is already wrong; where the MUST checks hold on the status alone (a
      // draft 404 with an empty body), the step is judged like any other.
      const must = step.expect.filter((e) => env.spec.requirements.get(e.requirement)?.level !== 'SHOULD');
      const needsJson = must.some((e) => e.errcode !== undefined || e.body !== undefined || e.body_includes !== undefined || e.schema !== undefined || e.list !== undefined);
      const statusWrong = must.some((e) => e.status !== undefined && !(Array.isArray(e.status) ? e.status : [e.status]).includes(res.status));
      const problem = misbehaviour(res, observed.isJson || !(needsJson || statusWrong), env.client.client.options.maxBodyBytes) ?? (tooDeep ? { code: 'ERR_JSON_TOO_DEEP', message: `answered JSON nested deeper than ${MAX_JSON_DEPTH} levels, which no check reads` } : undefined);
      if (problem) {
        result.outcome = 'errored';
        result.error = { code: problem.code, message: `step ${i + 1} "${step.title}": ${problem.message}`, step: i + 1, exchange: exchange() };
        return finish();
      }

      let mustFailed = false;
      for (const e of step.expect) {
        const resolved = resolveExpectation(e, ctx);
        for (const outcome of evaluate(resolved, observed)) {
          const r = env.spec.requirements.get(e.requirement);
          const failure: CheckFailure = {
            requirement: e.requirement,
            level: r?.level ?? 'MUST',
            quote: r?.text ?? '',
            ...outcome,
            step: i + 1,
            stepTitle: step.title,
            source: `${c.file}:${e.line}`,
            exchange: exchange(),
          };
          if (failure.level === 'MUST') {
            mustFailed = true;
            result.failures.push(failure);
          } else result.warnings.push(failure);
        }
      }
      for (const [name, ptr] of Object.entries(step.capture)) {
        vars.set(name, pointer(observed.json, ptr));
      }
      if (env.cleanup && res.status === 200 && step.request.path.endsWith('/pushers/set') && user && isSetRequest(sentJson)) {
        created.push({ user, path: step.request.path, app_id: sentJson.app_id, pushkey: sentJson.pushkey });
      }
      earlier.push(req);
      if (mustFailed) break;
    }
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    result.outcome = 'errored';
    result.error = { code: 'ERR_CASE_VALUE', message: err.message };
  } finally {
    await cleanupPushers(created, env, deadline);
  }
  return finish();
}

/**
 * Answers that give no verdict on the rule a step checks: the server broke
 * (5xx), sent the client elsewhere (3xx), kept rate-limiting past every retry,
 * or did not speak JSON where a MUST check reads the body. They are errors,
 * reported apart from failures.
 */
function misbehaviour(res: HttpResponse, isJson: boolean, cap: number): { code: string; message: string } | undefined {
  if (res.status >= 500) return { code: 'ERR_SERVER_ERROR', message: `the server failed with status ${res.status}` };
  if (res.status >= 300 && res.status < 400) return { code: 'ERR_REDIRECT', message: `answered ${res.status} redirecting to ${res.headers['location'] ?? '(no location)'}; redirects are not followed (see --follow-redirects)` };
  if (res.status === 429) return { code: 'ERR_RATE_LIMITED', message: 'still rate-limited (429) after every retry the case could afford' };
  if (res.truncated) return { code: 'ERR_BODY_TOO_LARGE', message: `the response body is larger than the cap of ${cap} bytes; the rest was not read` };
  if (!isJson) return { code: 'ERR_NOT_JSON', message: `answered ${res.status} with ${res.headers['content-type'] ?? 'no content-type'} and a body that is not JSON, where the API always answers JSON` };
  return undefined;
}

/** Hides pushers a given account had before the run, so "exactly these pushers" speaks of the run's own. */
function withoutBaseline(body: unknown, baseline: ReadonlySet<string>): unknown {
  const b = body as { pushers?: unknown } | undefined;
  if (!b || !Array.isArray(b.pushers)) return body;
  return { ...b, pushers: b.pushers.filter((p: { app_id?: unknown; pushkey?: unknown }) => !baseline.has(pusherKey(p?.app_id, p?.pushkey))) };
}

function isSetRequest(v: unknown): v is { app_id: string; pushkey: string; kind: unknown } {
  const o = v as { app_id?: unknown; pushkey?: unknown; kind?: unknown } | undefined;
  return typeof o?.app_id === 'string' && typeof o.pushkey === 'string' && typeof o.kind === 'string';
}

function resolveExpectation(e: Expectation, ctx: ValueContext): Expectation {
  const out: Expectation = { ...e };
  if (e.body !== undefined) out.body = resolve(e.body, ctx);
  if (e.body_includes !== undefined) out.body_includes = resolve(e.body_includes, ctx);
  if (e.list !== undefined) out.list = resolve(e.list, ctx) as Expectation['list'];
  return out;
}

/** Best effort: a failed delete must not change the verdict of the case. */
async function cleanupPushers(created: Array<{ user: User; path: string; app_id: string; pushkey: string }>, env: CaseEnv, deadline: number): Promise<void> {
  const seen = new Set<string>();
  for (const p of created) {
    const key = `${p.user.alias}\n${p.path}\n${p.app_id}\n${p.pushkey}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      // Rate limits and redirects are handled as for the case's own requests, within its bound.
      await env.client.send({ method: 'POST', url: env.base + p.path, headers: { authorization: `Bearer ${p.user.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: null, app_id: p.app_id, pushkey: p.pushkey }) }, { followRedirects: env.followRedirects, deadline });
    } catch {
      // the verdict is already made; an unreachable target shows up elsewhere
    }
  }
}
