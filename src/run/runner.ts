import { randomBytes } from 'node:crypto';
import { TargetError } from '../errors.js';
import { HttpClient, TransportError } from '../http/client.js';
import { Transport, type RateLimitWait } from '../http/transport.js';
import { Redactor } from '../http/redact.js';
import type { Case, Suite } from '../cases/types.js';
import { getValidator } from '../schemas.js';
import { loadSpec, type Edition, type SpecText } from '../spec/requirements.js';
import { suiteInfo } from '../version.js';
import { runCase } from './case.js';
import type { CaseResult, RunReport } from './types.js';
import { GivenUsers, RegisteringUsers, type Credential, type UserSource } from './users.js';

export interface RunOptions {
  /** Base URL of the homeserver, without a trailing slash. */
  target: string;
  /** Editions to run, or 'auto': the editions the target advertises. */
  editions: readonly Edition[] | 'auto';
  suite: Suite;
  strict?: boolean;
  jobs?: number;
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** Only cases whose id, title or tags contain this text. */
  grep?: string;
  cleanup?: boolean;
  followRedirects?: boolean;
  /** Marks the report as a run against the bundled reference server. */
  embedded?: boolean;
  /** Called as each case ends (any order); the report itself keeps suite order. */
  onResult?: (r: CaseResult) => void;
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
}

/**
 * Cases in flight at once. Against a target 50 ms away, 16 gives about 11×
 * the speed of one-by-one with ~20 requests in flight, gentle enough for a
 * real homeserver; above it each doubling gains less (npm run bench).
 */
export const DEFAULT_JOBS = 16;

export interface Preflight {
  versions: unknown;
  server?: string;
  editions: Edition[];
}

/**
 * Asks GET /_matrix/client/versions: a target that does not answer it with a
 * versions list is not a Matrix server, and nothing more is sent to it.
 */
export async function preflight(client: Transport, base: string): Promise<Preflight> {
  let res;
  try {
    // A rate limit on the very first request is waited out like any other.
    ({ res } = await client.send({ method: 'GET', url: `${base}/_matrix/client/versions`, headers: {} }));
  } catch (err) {
    if (err instanceof TransportError) throw new TargetError('ERR_TARGET_UNREACHABLE', `${base} is unreachable: ${err.message}`);
    throw err;
  }
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = undefined;
  }
  if (res.status !== 200 || !getValidator('versions-response')(body)) {
    throw new TargetError('ERR_TARGET_NOT_MATRIX', `${base} is not a Matrix homeserver: GET /_matrix/client/versions answered ${res.status}${body === undefined ? ' without JSON' : ' without a versions list'}`);
  }
  const versions = (body as { versions: string[] }).versions;
  const editions: Edition[] = versions.some((v) => /^v1\.\d+$/.test(v)) ? ['v1'] : [];
  // Keep what provenance needs, in a shape every reporter can print: the target decides the rest of the body.
  const unstable = (body as { unstable_features?: unknown }).unstable_features;
  const flags = typeof unstable === 'object' && unstable !== null && !Array.isArray(unstable) ? Object.fromEntries(Object.entries(unstable).filter(([, v]) => typeof v === 'boolean')) : undefined;
  return { versions: { versions, ...(flags ? { unstable_features: flags } : {}) }, ...(res.headers['server'] ? { server: res.headers['server'] } : {}), editions };
}

export function selectCases(suite: Suite, editions: readonly Edition[], grep?: string): Case[] {
  const needle = grep?.toLowerCase();
  return suite.cases.filter((c) => editions.includes(c.edition) && (!needle || [c.id, c.title, ...c.tags].some((s) => s.toLowerCase().includes(needle))));
}

/** Runs `items` through `fn` with at most `limit` in flight; results keep input order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Folds the repetitions of one case into one result. When they disagree the
 * case is flaky: it fails, shows every outcome, and keeps the problems of the
 * first repetition that did not pass.
 */
function mergeRepeats(runs: CaseResult[]): CaseResult {
  const first = runs[0] as CaseResult;
  if (runs.length === 1) return first;
  const outcomes = runs.map((r) => r.outcome);
  const base = runs.find((r) => r.outcome !== 'passed') ?? first;
  const merged: CaseResult = { ...base, durationMs: runs.reduce((a, r) => a + r.durationMs, 0) / runs.length, requests: runs.reduce((a, r) => a + r.requests, 0) };
  if (new Set(outcomes).size > 1) {
    const counts = [...new Set(outcomes)].map((o) => `${o} ×${outcomes.filter((x) => x === o).length}`).join(', ');
    merged.flaky = outcomes;
    merged.outcome = 'errored';
    merged.error = { code: 'ERR_FLAKY', message: `the outcome varies across ${runs.length} runs (${counts})${base.error ? `; first problem: ${base.error.message}` : ''}` };
  }
  return merged;
}

export async function run(options: RunOptions): Promise<RunReport> {
  const startedAt = new Date();
  const base = options.target.replace(/\/+$/, '');
  const spec = options.spec ?? loadSpec();
  const client = new Transport(new HttpClient({ timeoutMs: options.timeoutMs ?? 10_000, maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024 }), { ...(options.rateLimitBudgetMs !== undefined ? { rateLimitBudgetMs: options.rateLimitBudgetMs } : {}), ...(options.onRateLimit ? { onRateLimit: options.onRateLimit } : {}) });
  const redactor = new Redactor();
  const runId = randomBytes(4).toString('hex');
  try {
    const pre = await preflight(client, base);
    const editions = options.editions === 'auto' ? pre.editions : [...options.editions];
    if (editions.length === 0) {
      throw new TargetError('ERR_TARGET_EDITION', `${base} advertises no version this suite covers (versions: ${JSON.stringify((pre.versions as { versions: unknown }).versions)}); choose one with --edition`);
    }
    const cases = selectCases(options.suite, editions, options.grep);
    const users: UserSource = options.credentials?.length ? new GivenUsers(client, base, redactor, options.credentials) : new RegisteringUsers(client, base, runId, redactor, options.registrationToken);
    const repeat = Math.max(1, options.repeat ?? 1);
    const runs = cases.flatMap((c) => Array.from({ length: repeat }, () => c));
    let all;
    try {
      all = await pool(runs, options.jobs ?? DEFAULT_JOBS, async (c, seq) => {
        const r = await runCase(c, { client, base, runId, seq, spec, suite: options.suite, users, redactor, cleanup: options.cleanup ?? true, followRedirects: options.followRedirects ?? false, timeoutMs: options.timeoutMs ?? 10_000 });
        options.onResult?.(r);
        return r;
      });
    } finally {
      await users.close?.();
    }
    const results = cases.map((_, i) => mergeRepeats(all.slice(i * repeat, (i + 1) * repeat)));
    const finishedAt = new Date();
    return {
      meta: {
        suite: suiteInfo(),
        target: base,
        embedded: options.embedded ?? false,
        editions,
        strict: options.strict ?? false,
        versions: pre.versions,
        ...(pre.server ? { server: pre.server } : {}),
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        ...(repeat > 1 ? { repeat } : {}),
      },
      results,
    };
  } finally {
    await client.close();
  }
}
