/**
 * Targets that misbehave: they hang, drip, flood, speak HTML, reset, fail,
 * redirect or rate-limit. The CLI is spawned for real against each, and every
 * run must end within a bound computed from --timeout, with exit 1 (a case
 * errored: no verdict, apart from failures) or 3 (the preflight or the
 * registration could not complete: one line on stderr), without a stack
 * trace, without a token in any report, and without sending credentials to
 * another origin.
 *
 * Runs are independent, so they all start at once in before() (a few at a
 * time, to spare the CPU) and each test then judges its own.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli as spawnCli, type Ran as SpawnedRun } from './support/cli.js';
import { closedPort, startMisbehaving, type MisbehavingOptions, type MisbehavingServer } from './support/misbehaving-server.js';

/**
 * The per-request deadline every run gets. Also what the target's legitimate
 * answers (the preflight, a registration) must come within, with several
 * runs at once on a loaded machine: two seconds, not one.
 */
const TIMEOUT_MS = 2000;
/**
 * What any single-step run may take: startup, preflight, registration and a
 * handful of requests each bounded by TIMEOUT_MS, or five rate-limit waits of
 * at most a second. Generous on purpose: these are bounds, not benchmarks.
 */
const BOUND_MS = 20 * TIMEOUT_MS;
/** A run that has not ended by then is killed, and its test fails on the exit code. */
const KILL_MS = 50_000;

interface Reports {
  json?: string;
  junit?: string;
  tap?: string;
}

interface Ran extends SpawnedRun {
  reports: Reports;
}

interface JsonReport {
  stats: { passes: number; failures: number; tests: number };
  passes: Array<{ title: string }>;
  failures: Array<{ title: string; err: { message?: string } }>;
  conformance: {
    summary: { total: number; passed: number; failed: number; errored: number };
    results: Array<{ id: string; area?: string; outcome: string; error?: { code: string; message: string } }>;
  };
}

/** The cases of a JSON report that reached no verdict, with their error. */
function errorsOf(report: JsonReport): Array<{ case: string; code: string; message: string }> {
  return report.conformance.results.filter((r) => r.error).map((r) => ({ case: r.id, code: (r.error as { code: string }).code, message: (r.error as { message: string }).message }));
}

/** Runs the CLI against `target` with every reporter: spec on stdout, json, junit and tap into files. */
async function runAll(target: string, args: readonly string[]): Promise<Ran> {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-misbehaving-'));
  try {
    const files = { json: join(dir, 'r.json'), junit: join(dir, 'r.xml'), tap: join(dir, 'r.tap') };
    const ran = await spawnCli(['--target', target, '--timeout', String(TIMEOUT_MS), '--reporter', 'spec', '--reporter', `json:${files.json}`, '--reporter', `junit:${files.junit}`, '--reporter', `tap:${files.tap}`, ...args], KILL_MS);
    const reports: Reports = {};
    for (const [k, f] of Object.entries(files) as Array<[keyof Reports, string]>) if (existsSync(f)) reports[k] = readFileSync(f, 'utf8');
    return { ...ran, reports };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a run should end with. */
type Expected =
  /** Exit 1: these cases errored with these codes (and nothing failed unless `failed` says so). */
  | { exit: 1; errors: Record<string, string | RegExp>; failed?: number }
  /** Exit 1 from failures (verdicts), not errors. */
  | { exit: 1; failed: number; errors?: undefined }
  /** Exit 0: every selected case passed. */
  | { exit: 0; passed: number }
  /** Exit 3: one line on stderr, matching. */
  | { exit: 3; line: RegExp };

interface Situation {
  title: string;
  /** The misbehaving server; absent: a port nothing listens on. */
  server?: MisbehavingOptions;
  args: string[];
  expected: Expected;
  /** The bound on the run's wall time (default BOUND_MS). */
  boundMs?: number;
  /** Further checks on what the server saw. */
  check?: (ran: Ran, server: MisbehavingServer) => void;
  /** Takes seconds of waiting: started first, so the file ends soon after the slowest run. */
  slow?: true;
}

const ONE_SET = ['--grep', 'v1.set.valid-pusher'];
const SET_CASE = 'v1.set.valid-pusher';
/** Two cases, each POST /pushers/set then GET /pushers. */
const TWO_GETS = ['--grep', 'v1.get.round-trip'];
/** Seven one-step cases, all POST /pushers/set. */
const SEVEN = ['--grep', 'v1.set.missing'];
const SEVEN_CASES = ['v1.set.missing-app-display-name', 'v1.set.missing-app-id', 'v1.set.missing-data', 'v1.set.missing-device-display-name', 'v1.set.missing-kind', 'v1.set.missing-lang', 'v1.set.missing-pushkey'];
const all = (cases: readonly string[], code: string | RegExp): Record<string, string | RegExp> => Object.fromEntries(cases.map((c) => [c, code]));

/** Pushers requests the reference server really processed, deleting a pusher (`kind: null`). */
const deletions = (s: MisbehavingServer): number => s.forwarded.filter((f) => f.path.endsWith('/pushers/set') && f.status === 200 && /"kind":null/.test(f.body)).length;

const SITUATIONS: Situation[] = [
  // --- the pushers endpoints never finish answering: ERR_HTTP_TIMEOUT within the per-request deadline
  {
    title: 'pushers: never answers, sends headers then nothing, drips the body, drips the headers (seven cases, the four in turn)',
    server: { at: 'pushers', mode: ['hang', 'headers-then-hang', 'drip', 'drip-headers'] },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_HTTP_TIMEOUT') },
    // Two drips of a byte every 200 ms, each abandoned at the deadline.
    check: (_ran, s) => expect(s.bytesSent, 'the drips were abandoned at the deadline').to.be.below(2 * (TIMEOUT_MS / 200 + 5)),
  },
  {
    title: 'the whole v1 edition against pushers endpoints that never answer',
    server: { at: 'pushers', mode: 'hang' },
    slow: true,
    args: ['--edition', 'v1'],
    expected: { exit: 1, errors: {} },
    // ceil(48 cases / 8 jobs) rounds, each one registration and one deadline: well under the bound.
    check: (ran) => {
      const report = JSON.parse(ran.reports.json ?? '{}') as JsonReport;
      expect(report.conformance.summary.total).to.be.greaterThan(40);
      const skipped = report.conformance.results.filter((r) => r.outcome === 'skipped').length;
      // The push rules cases that set no pusher never reach a pushers endpoint, and pass.
      const passed = report.conformance.results.filter((r) => r.outcome === 'passed');
      expect(passed.filter((r) => r.area !== 'pushrules').map((r) => r.id), 'cases that passed without the pushers endpoints').to.deep.equal([]);
      expect(report.conformance.summary.errored, 'every other case errored (but those left out for the version judged)').to.equal(report.conformance.summary.total - skipped - passed.length);
      expect(report.conformance.summary.failed).to.equal(0);
      for (const e of errorsOf(report)) expect(e.code, e.case).to.equal('ERR_HTTP_TIMEOUT');
    },
  },

  // --- floods: the body is read up to the cap (1 MiB) and abandoned
  {
    title: 'pushers: a 5 GiB body, an endless chunked body, a body one byte over the cap (seven cases, the three in turn)',
    server: { at: 'pushers', mode: ['huge', 'huge-chunked', 'exact-size'], exactBytes: 2 ** 20 + 1 },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_BODY_TOO_LARGE') },
    // Five floods, each abandoned at the cap (plus what socket buffers took).
    check: (_ran, s) => expect(s.bytesSent, 'the floods were abandoned near the cap').to.be.below(5 * 16 * 2 ** 20),
  },
  { title: 'pushers: a JSON body of exactly the cap (1 MiB) is read whole and passes', server: { at: 'pushers', mode: 'exact-size', exactBytes: 2 ** 20, method: 'POST' }, args: ONE_SET, expected: { exit: 0, passed: 1 } },
  {
    title: 'pushers: a JSON body nested 400 000 arrays deep',
    server: { at: 'pushers', mode: 'deep-json' },
    args: ONE_SET,
    expected: { exit: 1, errors: { [SET_CASE]: 'ERR_JSON_TOO_DEEP' } },
  },

  // --- not JSON, not HTTP, not there
  {
    title: 'pushers: text/html, text/plain and an empty body where JSON belongs',
    server: { at: 'pushers', mode: ['html', 'text', 'empty'] },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_NOT_JSON') },
    check: (ran) => {
      const report = JSON.parse(ran.reports.json ?? '{}') as JsonReport;
      const messages = errorsOf(report).map((e) => e.message).join('\n');
      expect(messages).to.include('text/html');
      expect(messages).to.include('text/plain');
    },
  },
  {
    title: 'pushers: the connection is reset before the request body is read, or halfway through the answer (seven cases, in turn)',
    server: { at: 'pushers', mode: ['reset', 'reset-mid-body'] },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_HTTP_RESET') },
  },
  {
    title: 'pushers: bytes that are not HTTP, or a 100 KB header (seven cases, in turn)',
    server: { at: 'pushers', mode: ['garbage', 'huge-headers'] },
    args: SEVEN,
    // Bytes that are not HTTP may be read as a protocol error or, once the server has closed, as a reset.
    expected: { exit: 1, errors: all(SEVEN_CASES, /^ERR_HTTP_(PROTOCOL|RESET)$/) },
    check: (ran) => {
      const report = JSON.parse(ran.reports.json ?? '{}') as JsonReport;
      expect(errorsOf(report).filter((e) => e.code === 'ERR_HTTP_PROTOCOL'), 'the header overflow is a protocol error').to.have.length.at.least(3);
    },
  },

  // --- the server fails
  {
    title: 'pushers: 500, 502 and 503',
    server: { at: 'pushers', mode: 'status', statuses: [500, 502, 503] },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_SERVER_ERROR') },
    check: (ran) => {
      const report = JSON.parse(ran.reports.json ?? '{}') as JsonReport;
      const messages = errorsOf(report).map((e) => e.message).join('\n');
      for (const status of [500, 502, 503]) expect(messages).to.include(`status ${status}`);
    },
  },

  // --- redirects: not followed by default; followed on request, never with credentials to another origin
  {
    title: 'pushers: a 307 to the same origin is an error without --follow-redirects',
    server: { at: 'pushers', mode: 'redirect-same' },
    args: ONE_SET,
    expected: { exit: 1, errors: { [SET_CASE]: 'ERR_REDIRECT' } },
    check: (_ran, s) => expect(s.forwarded.filter((f) => f.path.includes('/pushers')), 'nothing followed the redirect').to.have.length(0),
  },
  { title: 'pushers: a 307 to the same origin is followed with --follow-redirects, and the case passes', server: { at: 'pushers', mode: 'redirect-same' }, args: [...ONE_SET, '--follow-redirects'], expected: { exit: 0, passed: 1 } },
  { title: 'pushers: a 302 on GET /pushers to the same origin is followed with --follow-redirects, and the case passes', server: { at: 'pushers', mode: 'redirect-same', redirectStatus: 302, method: 'GET' }, args: [...TWO_GETS, '--follow-redirects'], expected: { exit: 0, passed: 2 } },
  { title: 'pushers: a redirect to itself, forever, with --follow-redirects', server: { at: 'pushers', mode: 'redirect-loop' }, args: [...ONE_SET, '--follow-redirects'], expected: { exit: 1, errors: { [SET_CASE]: 'ERR_REDIRECT' } } },
  {
    title: 'pushers: a 307 to another origin is not followed by default',
    server: { at: 'pushers', mode: 'redirect-cross' },
    args: ONE_SET,
    expected: { exit: 1, errors: { [SET_CASE]: 'ERR_REDIRECT' } },
    check: (_ran, s) => expect(s.otherOrigin, 'the other origin was never contacted').to.have.length(0),
  },
  ...([307, 302] as const).map(
    (status): Situation => ({
      title: `pushers: a ${status} to another origin, followed, reaches it without credentials`,
      server: { at: 'pushers', mode: 'redirect-cross', redirectStatus: status },
      args: [...SEVEN, '--follow-redirects'],
      // The other origin answers 401 to a request without a token: a verdict on what it answered.
      expected: { exit: 1, failed: 7 },
      check: (_ran, s) => {
        expect(s.otherOrigin, 'the redirect was followed').to.have.length.greaterThan(0);
        for (const seen of s.otherOrigin) {
          expect(seen.headers['authorization'], `${seen.method} ${seen.path} carried an Authorization header`).to.equal(undefined);
          const raw = JSON.stringify(seen);
          for (const secret of s.secrets) expect(raw.includes(secret), 'a secret reached the other origin').to.equal(false);
        }
      },
    }),
  ),
  {
    title: 'pushers: another origin redirecting back does not get the credentials back',
    server: { at: 'pushers', mode: 'redirect-bounce' },
    args: [...ONE_SET, '--follow-redirects'],
    expected: { exit: 1, failed: 1 },
    check: (_ran, s) => {
      expect(s.otherOrigin).to.have.length.greaterThan(0);
      expect(s.bounced).to.have.length.greaterThan(0);
      for (const seen of [...s.otherOrigin, ...s.bounced]) expect(seen.headers['authorization'], `${seen.method} ${seen.path}`).to.equal(undefined);
    },
  },
  { title: 'pushers: a redirect whose Location holds the access token', server: { at: 'pushers', mode: 'redirect-with-token' }, args: ONE_SET, expected: { exit: 1, errors: { [SET_CASE]: 'ERR_REDIRECT' } } },

  // --- rate limits: waited out and retried, never a failure by themselves
  {
    title: 'pushers: 429 M_LIMIT_EXCEEDED with retry_after_ms three times, then success: the case passes',
    server: { at: 'pushers', mode: 'rate-limit', times: 3, retryAfterMs: 200 },
    slow: true,
    args: TWO_GETS,
    expected: { exit: 0, passed: 2 },
    check: (_ran, s) => {
      expect(s.hits, 'every request was limited three times before it went through').to.be.at.least(2 * 3 * 4);
      expect(Math.min(...s.retryGaps), 'each retry came after retry_after_ms').to.be.at.least(180);
      expect(deletions(s), 'the pushers the cases created were deleted, rate limit or not').to.equal(2);
    },
  },
  {
    title: 'pushers: 429 with only a Retry-After header, twice, then success: the case passes',
    server: { at: 'pushers', mode: 'rate-limit-header', times: 2, retryAfterSeconds: 1 },
    slow: true,
    args: ONE_SET,
    expected: { exit: 0, passed: 1 },
    check: (_ran, s) => {
      expect(deletions(s), 'the pusher the case created was deleted').to.equal(1);
      expect(Math.min(...s.retryGaps), 'each retry came after Retry-After').to.be.at.least(950);
    },
  },
  {
    title: 'pushers: 429 with only a Retry-After HTTP date, twice, then success: the case passes',
    server: { at: 'pushers', mode: 'rate-limit-header', times: 2, retryAfterSeconds: 2, retryAfterDate: true },
    slow: true,
    args: ONE_SET,
    expected: { exit: 0, passed: 1 },
    // The date has whole seconds: two seconds ahead is at least one second of waiting.
    check: (_ran, s) => expect(Math.min(...s.retryGaps), 'each retry came after the date').to.be.at.least(900),
  },
  { title: 'pushers: 429 with retry_after_ms, forever', server: { at: 'pushers', mode: 'rate-limit-forever', retryAfterMs: 100 }, args: [...ONE_SET, '--rate-limit-budget', '1000'], expected: { exit: 1, errors: { [SET_CASE]: 'ERR_RATE_LIMITED' } } },
  { title: 'pushers: 429 with only Retry-After: 1 and no JSON, forever', server: { at: 'pushers', mode: 'rate-limit-header-forever', retryAfterSeconds: 1 }, slow: true, args: [...ONE_SET, '--rate-limit-budget', '3000'], expected: { exit: 1, errors: { [SET_CASE]: 'ERR_RATE_LIMITED' } } },
  {
    title: 'pushers: 429 asking for an hour, forever, on seven cases',
    server: { at: 'pushers', mode: 'rate-limit-forever', retryAfterMs: 3_600_000 },
    args: SEVEN,
    expected: { exit: 1, errors: all(SEVEN_CASES, 'ERR_RATE_LIMITED') },
    // Nothing is gained by sleeping when the server asks for more than the runner would ever wait.
    boundMs: 10 * TIMEOUT_MS,
  },

  // --- secrets the target repeats back
  {
    title: 'pushers: a server that repeats the access token in its error, headers and body',
    server: { at: 'pushers', mode: 'echo-secrets' },
    args: ['--grep', 'valid-pusher', '--edition', 'all'],
    expected: { exit: 1, failed: 2 },
  },

  {
    title: 'pushers: a server that repeats the access token JSON-escaped, percent-encoded and in base64',
    server: { at: 'pushers', mode: 'echo-secrets-encoded' },
    args: ['--grep', 'valid-pusher', '--edition', 'v1'],
    expected: { exit: 1, failed: 1 },
  },
  {
    title: 'pushers: GET /pushers lists null, a number, a string and pushers with objects for ids',
    server: { at: 'pushers', mode: 'pushers-malformed' },
    args: ['--grep', 'v1.get.isolation', '--edition', 'v1'],
    expected: { exit: 1, failed: 1 },
  },

  // --- the preflight cannot complete: exit 3, one line
  { title: 'preflight: GET /versions never answers', server: { at: 'versions', mode: 'hang' }, args: ONE_SET, expected: { exit: 3, line: new RegExp(`^conformance: http://127\\.0\\.0\\.1:\\d+ is unreachable: no complete answer within ${TIMEOUT_MS} ms$`) } },
  { title: 'preflight: GET /versions answers HTML', server: { at: 'versions', mode: 'html' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: http:\/\/127\.0\.0\.1:\d+ is not a Matrix homeserver: GET \/_matrix\/client\/versions answered 200 \(text\/html; charset=utf-8, body "<!doctype html><html><body><h1>Welcome to nginx!<\/h1><\/body><\/html>"\)$/ } },
  { title: 'preflight: GET /versions streams gigabytes', server: { at: 'versions', mode: 'huge' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: http:\/\/127\.0\.0\.1:\d+ is not a Matrix homeserver: GET \/_matrix\/client\/versions answered 200 \(application\/json, body "\[ {299}" \(first 300 of \d+ bytes read\)\)$/ } },
  {
    title: 'preflight: GET /versions answers with unstable_features nested 100 000 objects deep',
    server: { at: 'versions', mode: 'deep-versions' },
    args: ONE_SET,
    expected: { exit: 0, passed: 1 },
  },
  { title: 'preflight: GET /versions resets the connection', server: { at: 'versions', mode: 'reset' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: http:\/\/127\.0\.0\.1:\d+ is unreachable: the connection was closed before a complete answer$/ } },
  { title: 'preflight: the connection is refused', args: ONE_SET, expected: { exit: 3, line: /^conformance: http:\/\/127\.0\.0\.1:\d+ is unreachable: cannot connect \(ECONNREFUSED\)$/ } },

  // --- registration cannot complete: exit 3, one line
  { title: 'registration: POST /register answers 500', server: { at: 'register', mode: 'status', statuses: [500] }, args: SEVEN, expected: { exit: 3, line: /^conformance: cannot get users on the target: POST \/register answered 500 M_UNKNOWN \(application\/json, body "\{.*Internal server error.*\}"\)$/ } },
  { title: 'registration: POST /register never answers', server: { at: 'register', mode: 'hang' }, args: SEVEN, expected: { exit: 3, line: new RegExp(`^conformance: cannot get users on the target: no complete answer within ${TIMEOUT_MS} ms$`) } },
  { title: 'registration: POST /register asks for stages no run can complete', server: { at: 'register', mode: 'unknown-stage' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: registration asks for stages this run cannot complete \(m\.login\.recaptcha \| m\.login\.email\.identity \+ m\.login\.terms\)/ } },
  { title: 'registration: POST /register answers flows [null]', server: { at: 'register', mode: 'flows-null' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: registration asks for stages this run cannot complete \(\(malformed flow\)\)/ } },
  { title: 'registration: POST /register answers stages that are not strings', server: { at: 'register', mode: 'stages-not-strings' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: registration asks for stages this run cannot complete \(\(malformed flow\)\)/ } },
  { title: 'registration: POST /register answers a stage list nested 100 000 arrays deep', server: { at: 'register', mode: 'stages-deep' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: registration asks for stages this run cannot complete \(none\)/ } },
  { title: 'registration: POST /register succeeds with objects for user_id and access_token', server: { at: 'register', mode: 'register-objects' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: POST \/register succeeded without user_id and access_token: 200 / } },
  { title: 'registration: POST /register answers 429, forever', server: { at: 'register', mode: 'rate-limit-forever', retryAfterMs: 100 }, args: [...ONE_SET, '--rate-limit-budget', '1000'], expected: { exit: 3, line: /^conformance: cannot get users on the target: POST \/register answered 429 M_LIMIT_EXCEEDED/ } },
  { title: 'registration: POST /register repeats the password in its error', server: { at: 'register', mode: 'echo-secrets' }, args: ONE_SET, expected: { exit: 3, line: /^conformance: cannot get users on the target: POST \/register answered 400 M_UNKNOWN \(application\/json, body ".*you sent/ } },
  {
    title: 'registration: POST /register answers 429 twice per request, then registers: the case passes',
    server: { at: 'register', mode: 'rate-limit', times: 2, retryAfterMs: 100 },
    args: ONE_SET,
    expected: { exit: 0, passed: 1 },
  },
];

/** Runs `fn` over `items`, at most `limit` at a time. */
function limited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Array<Promise<R>> {
  let active = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    if (active < limit) queue.shift()?.();
  };
  return items.map(
    (item) =>
      new Promise<R>((resolve, reject) => {
        queue.push(() => {
          active++;
          fn(item)
            .then(resolve, reject)
            .finally(() => {
              active--;
              next();
            });
        });
        next();
      }),
  );
}

type Result = { ran: Ran; server: MisbehavingServer | undefined } | { failed: unknown };

/** A secret as a target may echo it: as it is, JSON-escaped, slash-escaped, percent-encoded, in base64. */
function encodings(secret: string): string[] {
  const forms = [
    secret,
    [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    [...Buffer.from(secret)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
  ];
  if (secret.includes('/')) forms.push(secret.replace(/\//g, '\\/'));
  return [...new Set(forms)];
}

function noStackTrace(text: string, where: string): void {
  expect(text, `${where} holds a stack trace`).not.to.match(/^\s+at /m);
  expect(text, `${where} holds a stack frame`).not.to.match(/\.[cm]?js:\d+:\d+/);
  expect(text, `${where} reports an internal error`).not.to.include('internal error');
}

describe('misbehaving targets: every run ends in bounds, with exit 1 or 3, no stack trace, no token', function () {
  this.timeout(120_000);
  const servers: MisbehavingServer[] = [];
  const results = new Map<Situation, Promise<Result>>();

  before(async function () {
    // Servers first (cheap), then the runs, as many at once as the machine can take without skewing them.
    const started = await Promise.all(SITUATIONS.map(async (s) => (s.server ? startMisbehaving(s.server) : undefined)));
    servers.push(...started.filter((s): s is MisbehavingServer => s !== undefined));
    const refused = `http://127.0.0.1:${await closedPort()}`;
    const concurrency = Math.max(3, Math.min(8, cpus().length * 2));
    const order = SITUATIONS.map((s, i) => ({ s, server: started[i] })).sort((a, b) => Number(b.s.slow ?? false) - Number(a.s.slow ?? false));
    const runs = limited(order, concurrency, async ({ s, server }) => ({ ran: await runAll(server?.url ?? refused, s.args), server }));
    order.forEach(({ s }, i) => results.set(s, (runs[i] as Promise<Result>).catch((failed: unknown) => ({ failed }))));
  });

  after(async function () {
    // Every run is bounded (KILL_MS at worst); let those of tests filtered out end before their servers go.
    await Promise.all(results.values());
    await Promise.all(servers.map((s) => s.close()));
  });

  for (const s of SITUATIONS) {
    it(s.title, async function () {
      const result = await (results.get(s) as Promise<Result>);
      if ('failed' in result) throw result.failed;
      const { ran, server } = result;
      const everything = [ran.stdout, ran.stderr, ran.reports.json ?? '', ran.reports.junit ?? '', ran.reports.tap ?? ''];
      const context = `exit ${ran.code} after ${Math.round(ran.elapsedMs)} ms\n--- stderr\n${ran.stderr}\n--- stdout\n${ran.stdout.slice(0, 4000)}`;

      expect(ran.signal, `the run was killed after ${KILL_MS} ms: it did not end on its own\n${context}`).to.equal(null);
      expect(ran.code, context).to.equal(s.expected.exit);
      expect(ran.elapsedMs, `the run took longer than its bound\n${context}`).to.be.below(s.boundMs ?? BOUND_MS);
      for (const [i, text] of everything.entries()) noStackTrace(text, ['stdout', 'stderr', 'json', 'junit', 'tap'][i] as string);

      // No secret the server issued or received appears in any output of any reporter.
      if (server) {
        // A registration that fails in its first round has sent no password yet (it goes in the last round only).
        if (!(s.server?.at === 'versions' || (s.server?.at === 'register' && s.expected.exit === 3 && !/repeats the password/.test(s.title)))) expect(server.secrets.size, 'the run registered users (or sent secrets)').to.be.greaterThan(0);
        const joined = everything.join('\n');
        for (const secret of server.secrets) {
          for (const form of encodings(secret)) expect(joined.includes(form), `a secret (${secret.slice(0, 4)}…) reached a report in the form ${form.slice(0, 12)}…\n${context}`).to.equal(false);
        }
      }

      if (s.expected.exit === 3) {
        // The header goes out before the first request; nothing after it when the run cannot start.
        const shown = ran.stdout.split('\n').filter((l) => l !== '');
        expect(shown.filter((l) => !/^(matrix-pushers-conformance \S+|target: |editions: |started: |versions: |judged: |cases: |not served: )/.test(l)), 'only the header on stdout when the run cannot start').to.deep.equal([]);
        const lines = ran.stderr.trim().split('\n');
        expect(lines, `stderr is one line\n${ran.stderr}`).to.have.length(1);
        expect(lines[0]).to.match(s.expected.line);
        expect(ran.reports, 'no report is written').to.deep.equal({});
      } else {
        // Waits for rate limits are announced; nothing else is written to stderr.
        const other = ran.stderr.split('\n').filter((l) => l !== '' && !/^conformance: rate-limited: waiting \d+\.\d s \((retry_after_ms|retry-after|back-off)\) before sending [A-Z]+ \/\S* again$/.test(l));
        expect(other, 'nothing on stderr but rate-limit notices').to.deep.equal([]);
        const report = JSON.parse(ran.reports.json ?? '{}') as JsonReport;
        const summary = report.conformance.summary;
        if (s.expected.exit === 0) {
          expect(summary.passed, context).to.equal(s.expected.passed);
          expect(summary.total).to.equal(s.expected.passed);
          expect(errorsOf(report)).to.deep.equal([]);
        } else {
          const errors = s.expected.errors ?? {};
          for (const [id, code] of Object.entries(errors)) {
            const e = errorsOf(report).find((x) => x.case === id);
            expect(e, `${id} is reported as an error\n${context}`).not.to.equal(undefined);
            if (typeof code === 'string') expect(e?.code, e?.message).to.equal(code);
            else expect(e?.code, e?.message).to.match(code);
          }
          if (Object.keys(errors).length) {
            expect(errorsOf(report).map((e) => e.case).sort()).to.deep.equal(Object.keys(errors).sort());
            expect(summary.failed, 'errors are not failures').to.equal(s.expected.failed ?? 0);
            expect(ran.stdout).to.match(/^\[ *\d+\/\d+\] ERROR /m);
            for (const e of errorsOf(report)) expect(ran.stdout).to.include(`ERROR ${e.code}: `);
            expect(ran.reports.junit).to.match(new RegExp(`<testsuites [^>]*errors="${errorsOf(report).length}"`));
            expect(ran.reports.junit).to.match(new RegExp(`<testsuites [^>]*failures="${s.expected.failed ?? 0}"`));
          } else if (s.expected.failed !== undefined) {
            expect(summary.failed, context).to.equal(s.expected.failed);
            expect(summary.errored, context).to.equal(0);
          }
          expect(ran.reports.tap).to.match(/^not ok \d+ /m);
          expect(ran.stdout).to.include('DOES NOT CONFORM');
        }
      }
      s.check?.(ran, server as MisbehavingServer);
    });
  }
});

describe('a target that answers about 1 MB of JSON to every request', function () {
  this.timeout(180_000);

  it('is judged with a bounded heap: bodies kept cut at 64 KiB, repetitions merged as they finish', async function () {
    const server = await startMisbehaving({ at: 'pushers', mode: 'mega-json' });
    const dir = mkdtempSync(join(tmpdir(), 'conformance-mega-'));
    try {
      const file = join(dir, 'r.json');
      // A heap of 120 MB: a run that kept every body, or built its reports by walking them all, would not fit.
      // No delivery: the pushers endpoints answer a megabyte and keep no pusher, so delivery cases would only wait out their timeouts.
      const ran = await spawnCli(['--target', server.url, '--edition', 'v1', '--repeat', '3', '--timeout', '10000', '--no-delivery', '--reporter', `json:${file}`, '--reporter', 'tap:/dev/null', '--reporter', 'junit:/dev/null', '--reporter', 'spec'], 170_000, {}, ['--max-old-space-size=120']);
      expect(ran.signal, 'the run ended on its own').to.equal(null);
      expect(ran.code, ran.stderr.slice(-2000)).to.equal(1);
      const text = readFileSync(file, 'utf8');
      expect(text.length, 'the report holds cut bodies, not megabytes of them').to.be.below(40 * 1024 * 1024);
      const report = JSON.parse(text) as { conformance: { results: Array<{ outcome: string; exchanges: Array<{ response?: { body: string; bodyCut?: boolean } }> }> } };
      const bodies = report.conformance.results.flatMap((r) => r.exchanges).map((x) => x.response).filter((r): r is { body: string; bodyCut?: boolean } => r !== undefined);
      expect(bodies.length).to.be.greaterThan(10);
      for (const b of bodies) expect(Buffer.byteLength(b.body)).to.be.at.most(64 * 1024);
      expect(bodies.filter((b) => b.bodyCut).length, 'the megabyte answers were cut').to.be.greaterThan(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.close();
    }
  });
});
