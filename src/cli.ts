#!/usr/bin/env node
/**
 * The command line: the only module that reads argv and env, writes to
 * stdout/stderr, handles signals and sets the exit code. Everything else
 * is the public API in index.ts, which returns data.
 *
 * Exit codes: 0 what was judged conforms (or, with --expectations, the gate
 * passes); 1 some case fails or errors (or the gate fails); 2 usage error,
 * invalid case or expectations file, unwritable report path, nothing left to
 * judge after the user's filters; 3 target unreachable, not Matrix, no users
 * before any case ran, or no selected case could be judged; 130 interrupted.
 */
import { closeSync, existsSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReferenceServerOptions, RunningServer } from '../reference-server/index.js';
import {
  applyExpectations,
  withExpectation,
  CaseFileError,
  changesOnly,
  compareReports,
  comparisonHtml,
  comparisonMarkdown,
  ConformanceError,
  coverage,
  DEFAULT_JOBS,
  defaultReportName,
  editionIds,
  escapeForTerminal,
  exitCode,
  formatCoverage,
  gatewayService,
  HarWriter,
  loadExpectations,
  loadSpec,
  loadSuite,
  plan,
  Redactor,
  regressions,
  reporter,
  REPORTERS,
  run,
  selectCases,
  suiteInfo,
  UsageError,
  writeExpectations,
  type Credential,
  type Edition,
  type NamedReport,
  type RateLimitWait,
  type Reporter,
  type RunReport,
  type ServiceSpec,
} from './index.js';


const USAGE = `Usage:
  conformance [--target URL] [options]        run the cases (without --target: against the bundled reference server)
  conformance serve [--port N] [--host H] [--no-push-tls-verify]
                                              run the bundled reference server until interrupted
  conformance coverage                        requirement -> level, versions, spec link -> cases
  conformance compare [NAME=]REPORT.json...   compare JSON reports case by case (Markdown; --html FILE for a page)

Run options:
  --target URL          base URL of the homeserver, e.g. http://127.0.0.1:8008 (no user:password@ in it)
  --edition E           draft, v1 or all (default: what the target advertises; all without --target)
  --spec-version V      judge the v1 edition by this version (e.g. v1.6) instead of the newest the target advertises
  --strict              SHOULD failures count (default: only MUST; SHOULD failures are warnings)
  --reporter R[:FILE]   ${REPORTERS.map((r) => r.name).join(', ')}; repeat for several reports from one run (default: spec on stdout)
  --output FILE         the file of the one reporter that names none
  --grep TEXT           only cases whose id, title or tags contain TEXT
  --list                list the cases the run would select (with --target: after asking the target) and exit
  --jobs N              cases at once (default ${DEFAULT_JOBS}; 1 runs them one by one)
  --timeout MS          per-request deadline (default 10000)
  --rate-limit-budget MS   how long one request may spend waiting out 429 answers (default 60000)
  --repeat N            run every case N times; a case whose outcome varies is reported as flaky
  --expectations FILE   known failures (YAML: case id -> reason, link, requirements); the gate passes when they fail as recorded
  --update-expectations FILE   write the cases failing now (with the requirements they fail) to FILE
  --trace FILE          write every exchange of the run to FILE as HAR 1.2 (secrets redacted)
  --follow-redirects    follow 3xx answers (credentials are never sent to another origin)
  --no-delivery         skip the push-delivery cases (they need the mock push gateway)
  --gateway-url URL     the notify URL a target on another machine must use to reach the mock gateway
  --gateway-listen HOST:PORT   where the mock gateway listens (default 127.0.0.1 and a free port)
  --gateway-tls         serve the mock gateway over HTTPS, with a certificate made for the run
  --quiet-period MS     how long a check that a poke does not come watches after its witness (default: 3 × the
                        slowest poke seen in the run, from 100 ms to 10 s)
  --retry-window SECONDS   how long a poke answered 500 may take to come again (default 65); shorter, a retry
                        that does not come in time is not judged (the case is skipped), not a failure
  --registration-token T   complete the m.login.registration_token stage when registering users
  --user NAME:PASSWORD     use this account (repeat for cases that need two users); no registration
  --access-token T         use the account behind this token (repeatable); no registration
  -h, --help            this text
  -V, --version         the suite's version

Serve options:
  --no-push-tls-verify  accept any certificate from push gateways (for the mock gateway of a --gateway-tls run)

Compare options:
  --html FILE           also write a self-contained HTML page
  --output FILE         write the Markdown there instead of stdout
  --changes-only        only the cases whose result differs between reports
  --fail-on-regression  exit 1 when a case is worse in the last report than in the first

Environment (keeps secrets out of the process list):
  CONFORMANCE_REGISTRATION_TOKEN   as --registration-token
  CONFORMANCE_USERS                as --user, one NAME:PASSWORD per line
  CONFORMANCE_ACCESS_TOKENS        as --access-token, one token per line

Exit codes: 0 what was judged conforms (or the gate passes), 1 some case fails (or the gate fails),
2 usage, case file or report path error, or nothing left to judge after your filters,
3 target unusable, or no selected case could be judged, 130 interrupted.`;

/** The bundled server's retry back-off in the embedded run: the same doubling as its default (0.5 to 4 s), five times sooner. */
const EMBEDDED_RETRY_DELAYS_MS = [100, 200, 400, 800];

type Command = 'run' | 'serve' | 'coverage' | 'compare' | 'help' | 'version';

interface Flags {
  command: Command;
  target?: string;
  edition?: 'draft' | 'v1' | 'all';
  specVersion?: string;
  strict: boolean;
  /** Each reporter writes to its file, or to stdout (at most one). */
  reporters: Array<{ name: string; file?: string }>;
  grep?: string;
  jobs: number;
  timeout: number;
  rateLimitBudget: number;
  list: boolean;
  port: number;
  host: string;
  cases?: string;
  registrationToken?: string;
  credentials: Credential[];
  expectations?: string;
  updateExpectations?: string;
  trace?: string;
  followRedirects: boolean;
  delivery: boolean;
  gatewayUrl?: string;
  gatewayListen?: string;
  gatewayTls: boolean;
  quietPeriodMs?: number;
  retryWindowMs?: number;
  pushTlsVerify: boolean;
  repeat: number;
  html?: string;
  output?: string;
  changesOnly: boolean;
  failOnRegression: boolean;
  files: string[];
}

const VALUE_FLAGS = new Set(['--target', '--edition', '--spec-version', '--reporter', '--output', '--grep', '--jobs', '--timeout', '--rate-limit-budget', '--port', '--host', '--cases', '--registration-token', '--user', '--access-token', '--expectations', '--update-expectations', '--trace', '--repeat', '--html', '--gateway-url', '--gateway-listen', '--quiet-period', '--retry-window']);
const BOOL_FLAGS = new Set(['--strict', '--list', '--help', '--version', '--follow-redirects', '--changes-only', '--fail-on-regression', '--no-delivery', '--gateway-tls', '--no-push-tls-verify']);
const SHORT: Record<string, string> = { '-h': '--help', '-V': '--version' };
const ALLOWED: Record<Exclude<Command, 'help' | 'version'>, ReadonlySet<string>> = {
  serve: new Set(['--port', '--host', '--no-push-tls-verify', '--help', '--version']),
  coverage: new Set(['--cases', '--help', '--version']),
  compare: new Set(['--html', '--output', '--changes-only', '--fail-on-regression', '--help', '--version']),
  run: new Set([...VALUE_FLAGS, ...BOOL_FLAGS].filter((f) => !['--port', '--host', '--html', '--changes-only', '--fail-on-regression', '--no-push-tls-verify'].includes(f))),
};

function intIn(name: string, raw: string, min: number, max: number, problems: string[]): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) problems.push(`${name} takes a whole number from ${min} to ${max}, got "${escapeForTerminal(raw)}"`);
  return n;
}

/**
 * Secrets can come from the environment instead of argv, where every user of
 * the machine can read them in the process list. Each variable stands for the
 * flag it is named after; flags given on the command line come first.
 */
export const SECRET_ENV = {
  CONFORMANCE_REGISTRATION_TOKEN: '--registration-token',
  CONFORMANCE_USERS: '--user',
  CONFORMANCE_ACCESS_TOKENS: '--access-token',
} as const;

function secretArgs(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [name, flag] of Object.entries(SECRET_ENV)) {
    const value = env[name];
    if (!value) continue;
    const values = flag === '--registration-token' ? [value.trim()] : value.split(/\r?\n/).map((v) => v.trim()).filter(Boolean);
    for (const v of values) out.push(`${flag}=${v}`);
  }
  return out;
}

/** A URL as it may be shown: without the user name and password it may carry. */
function withoutUserinfo(raw: string): string {
  // Up to the last @ of the word: a password may hold /, # or @ itself.
  return raw.replace(/([a-z][a-z0-9+.-]*:\/\/)\S*@/gi, '$1…@');
}

/** An argument as a usage error may show it: no user name or password, then cut, control characters escaped. */
const shownArg = (raw: string): string => escapeForTerminal(withoutUserinfo(raw).slice(0, 80));

/** Flags whose value is a secret: their value is taken even when it starts with "-", so it is never echoed as an unknown option. */
const SECRET_FLAGS = new Set(['--access-token', '--user', '--registration-token']);

/** Parses argv; collects every problem before failing, so one run shows them all. */
export function parseFlags(argv: readonly string[]): Flags {
  const problems: string[] = [];
  const flags: Flags = { command: 'run', strict: false, reporters: [], jobs: DEFAULT_JOBS, timeout: 10_000, rateLimitBudget: 60_000, list: false, port: 8008, host: '127.0.0.1', credentials: [], followRedirects: false, delivery: true, gatewayTls: false, pushTlsVerify: true, repeat: 1, changesOnly: false, failOnRegression: false, files: [] };
  const args = argv.map((a) => SHORT[a] ?? a);
  if (args[0] === 'serve' || args[0] === 'coverage' || args[0] === 'compare') {
    flags.command = args[0];
    args.shift();
  } else if (args[0] !== undefined && !args[0].startsWith('-')) {
    problems.push(`unknown command "${shownArg(args[0])}" (commands: serve, coverage, compare)`);
    args.shift();
  }
  const command = flags.command as Exclude<Command, 'help' | 'version'>;
  let help = false;
  let version = false;
  for (let i = 0; i < args.length; i++) {
    let arg = args[i] as string;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (command === 'compare' && !arg.startsWith('-')) {
      flags.files.push(arg);
      continue;
    }
    if ((VALUE_FLAGS.has(arg) || BOOL_FLAGS.has(arg)) && !ALLOWED[command].has(arg)) {
      problems.push(`${command} does not take ${arg}`);
      if (VALUE_FLAGS.has(arg) && value === undefined) i++;
      continue;
    }
    if (BOOL_FLAGS.has(arg)) {
      if (value !== undefined) problems.push(`${arg} takes no value`);
      if (arg === '--strict') flags.strict = true;
      if (arg === '--list') flags.list = true;
      if (arg === '--help') help = true;
      if (arg === '--version') version = true;
      if (arg === '--follow-redirects') flags.followRedirects = true;
      if (arg === '--changes-only') flags.changesOnly = true;
      if (arg === '--fail-on-regression') flags.failOnRegression = true;
      if (arg === '--no-delivery') flags.delivery = false;
      if (arg === '--gateway-tls') flags.gatewayTls = true;
      if (arg === '--no-push-tls-verify') flags.pushTlsVerify = false;
      continue;
    }
    if (!VALUE_FLAGS.has(arg)) {
      problems.push(arg.startsWith('-') ? `unknown option ${shownArg(arg)}` : `unexpected argument "${shownArg(arg)}"`);
      continue;
    }
    if (value === undefined) {
      value = args[i + 1];
      const isFlag = value !== undefined && value.startsWith('-') && value.length > 1 && (!SECRET_FLAGS.has(arg) || VALUE_FLAGS.has(value.split('=')[0] as string) || BOOL_FLAGS.has(value) || value in SHORT);
      if (value === undefined || isFlag) {
        problems.push(`${arg} needs a value`);
        continue;
      }
      i++;
    }
    switch (arg) {
      case '--target': {
        let u: URL | undefined;
        try {
          u = new URL(value);
        } catch {
          u = undefined;
        }
        if (!u || !['http:', 'https:'].includes(u.protocol)) problems.push(`--target must be an http(s) URL, got "${shownArg(value)}"`);
        else if (u.username !== '' || u.password !== '') problems.push(`--target must not carry a user name or password (${escapeForTerminal(u.protocol)}//…@${escapeForTerminal(u.host)}): they would be used for nothing; give accounts with --user or CONFORMANCE_USERS`);
        else flags.target = value.replace(/\/+$/, '');
        break;
      }
      case '--edition':
        if (value === 'draft' || value === 'v1' || value === 'all') flags.edition = value;
        else problems.push(`--edition is draft, v1 or all, got "${escapeForTerminal(value)}"`);
        break;
      case '--spec-version':
        if (/^v1\.\d{1,3}$/.test(value)) flags.specVersion = value;
        else problems.push(`--spec-version takes a version of the v1 edition such as v1.6, got "${escapeForTerminal(value)}"`);
        break;
      case '--reporter': {
        const colon = value.indexOf(':');
        const name = colon > 0 ? value.slice(0, colon) : value;
        if (reporter(name)) flags.reporters.push({ name, ...(colon > 0 ? { file: value.slice(colon + 1) } : {}) });
        else problems.push(`--reporter is one of ${REPORTERS.map((r) => r.name).join(', ')} (optionally NAME:FILE), got "${escapeForTerminal(value)}"`);
        break;
      }
      case '--output':
        flags.output = value;
        break;
      case '--grep':
        flags.grep = value;
        break;
      case '--cases':
        flags.cases = value;
        break;
      case '--jobs':
        flags.jobs = intIn('--jobs', value, 1, 256, problems);
        break;
      case '--timeout':
        flags.timeout = intIn('--timeout', value, 1, 600_000, problems);
        break;
      case '--rate-limit-budget':
        flags.rateLimitBudget = intIn('--rate-limit-budget', value, 0, 3_600_000, problems);
        break;
      case '--port':
        flags.port = intIn('--port', value, 0, 65535, problems);
        break;
      case '--host':
        flags.host = value;
        break;
      case '--registration-token':
        flags.registrationToken = value;
        break;
      case '--user': {
        const colon = value.indexOf(':');
        if (colon <= 0 || colon === value.length - 1) problems.push('--user takes NAME:PASSWORD');
        else flags.credentials.push({ kind: 'password', user: value.slice(0, colon), password: value.slice(colon + 1) });
        break;
      }
      case '--access-token':
        flags.credentials.push({ kind: 'token', token: value });
        break;
      case '--expectations':
        flags.expectations = value;
        break;
      case '--update-expectations':
        flags.updateExpectations = value;
        break;
      case '--trace':
        flags.trace = value;
        break;
      case '--repeat':
        flags.repeat = intIn('--repeat', value, 1, 1000, problems);
        break;
      case '--html':
        flags.html = value;
        break;
      case '--gateway-url': {
        let u: URL | undefined;
        try {
          u = new URL(value);
        } catch {
          u = undefined;
        }
        if (!u || !['http:', 'https:'].includes(u.protocol) || u.pathname !== '/_matrix/push/v1/notify') problems.push(`--gateway-url is the full notify URL targets must use, ending in /_matrix/push/v1/notify, got "${shownArg(value)}"`);
        else flags.gatewayUrl = value;
        break;
      }
      case '--quiet-period':
        flags.quietPeriodMs = intIn('--quiet-period', value, 1, 60_000, problems);
        break;
      case '--retry-window':
        flags.retryWindowMs = intIn('--retry-window', value, 1, 600, problems) * 1000;
        break;
      case '--gateway-listen':
        if (/^(?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$/.test(value) && Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535) flags.gatewayListen = value;
        else problems.push(`--gateway-listen takes HOST:PORT, got "${escapeForTerminal(value)}"`);
        break;
    }
  }
  if (help) return { ...flags, command: 'help' };
  if (version) return { ...flags, command: 'version' };
  if (flags.registrationToken && flags.credentials.length) problems.push('--registration-token registers users; --user and --access-token give them: choose one way');
  if ((flags.registrationToken || flags.credentials.length) && flags.command === 'run' && !flags.target && !flags.list) problems.push('--registration-token, --user and --access-token need --target');
  if (flags.specVersion && flags.edition === 'draft') problems.push('--spec-version is for the v1 edition; the draft has one version');
  if (flags.command === 'compare' && flags.files.length === 0 && !problems.length) problems.push('compare needs one or more JSON reports (written with --reporter json:FILE)');
  if (flags.command === 'compare' && flags.failOnRegression && flags.files.length < 2) problems.push('--fail-on-regression compares the first report with the last: give two or more');
  if (flags.command === 'run') {
    if (flags.reporters.length === 0) flags.reporters.push({ name: 'spec' });
    const unnamed = flags.reporters.filter((r) => r.file === undefined);
    if (flags.output !== undefined) {
      if (unnamed.length === 1) (unnamed[0] as { file?: string }).file = flags.output;
      else problems.push('--output names the file of one reporter; with several, use --reporter NAME:FILE');
    } else if (unnamed.length > 1) problems.push('only one reporter can write to stdout; give the others a file with --reporter NAME:FILE');
  }
  if (problems.length) throw new UsageError(problems);
  return flags;
}

/** The services a run offers its cases: the mock push gateway, or why it cannot be offered. */
function servicesFor(flags: Flags, target: string, embedded = false): Map<string, ServiceSpec> {
  // The bundled server follows the spec's advice and refuses http:// gateways: the embedded run serves the gateway over TLS.
  const timing = { ...(flags.quietPeriodMs !== undefined ? { quietPeriodMs: flags.quietPeriodMs } : {}), ...(flags.retryWindowMs !== undefined ? { retryWindowMs: flags.retryWindowMs } : {}) };
  return new Map([['gateway', gatewayService(target, { off: !flags.delivery, tls: flags.gatewayTls || embedded, ...timing, ...(flags.gatewayUrl ? { url: flags.gatewayUrl } : {}), ...(flags.gatewayListen ? { listen: flags.gatewayListen } : {}) })]]);
}

function editionsFor(flags: Flags, embedded: boolean): readonly Edition[] | 'auto' {
  if (flags.edition === 'all' || (embedded && flags.edition === undefined)) return editionIds();
  if (flags.edition) return [flags.edition];
  return 'auto';
}

/** The bundled reference server, loaded only by the commands that start it (a run against a target does not). */
async function createServer(options: ReferenceServerOptions): Promise<RunningServer> {
  return (await import('../reference-server/index.js')).createServer(options);
}

async function serve(flags: Flags): Promise<number> {
  const server = await createServer({ port: flags.port, host: flags.host, pushTlsVerify: flags.pushTlsVerify });
  process.stdout.write(`reference server listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

/** compare [NAME=]FILE...: one column per report, named NAME or after the file. */
function compare(flags: Flags): number {
  const reports: NamedReport[] = flags.files.map((arg) => {
    const eq = arg.indexOf('=');
    const file = eq > 0 ? arg.slice(eq + 1) : arg;
    let report: unknown;
    try {
      report = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError([`${file}: cannot read a JSON report (${err instanceof SyntaxError ? 'not JSON' : ((err as NodeJS.ErrnoException).code ?? String(err))})`]);
    }
    return { name: eq > 0 ? arg.slice(0, eq) : defaultReportName(file, report), report, file };
  });
  const full = compareReports(reports);
  const comparison = flags.changesOnly ? changesOnly(full) : full;
  const markdown = comparisonMarkdown(comparison);
  if (flags.output) writeFileSync(flags.output, markdown);
  else process.stdout.write(markdown);
  if (flags.html) writeFileSync(flags.html, comparisonHtml(comparison));
  if (flags.failOnRegression) {
    const worse = regressions(full);
    for (const r of worse) process.stderr.write(`conformance: regression: ${r.id} was ${r.from}, is ${r.to}\n`);
    if (worse.length) {
      process.stderr.write(`conformance: ${worse.length} case(s) got worse from ${full.implementations[0]?.name ?? 'the first report'} to ${full.implementations[full.implementations.length - 1]?.name ?? 'the last'}\n`);
      return 1;
    }
  }
  return 0;
}

/**
 * Opens every report file now: a path that cannot be written is found before
 * the first request. Returns the files this created, to be removed again if
 * the run cannot start.
 */
function checkWritable(files: readonly string[]): string[] {
  const problems: string[] = [];
  const created: string[] = [];
  for (const f of files) {
    try {
      if (!existsSync(f)) created.push(f);
      closeSync(openSync(f, 'a'));
    } catch (err) {
      problems.push(`cannot write ${escapeForTerminal(f)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (problems.length) throw new UsageError(problems);
  return created;
}

/** Says when the run waits a noticeable time for a rate limit; short back-offs pass silently. */
function rateLimitText(w: RateLimitWait): string | undefined {
  if (w.waitMs < 1000) return undefined;
  let path = w.url;
  try {
    path = new URL(w.url).pathname;
  } catch {
    // keep the URL as it is
  }
  return `conformance: rate-limited: waiting ${(w.waitMs / 1000).toFixed(1)} s (${w.source}) before sending ${w.method} ${escapeForTerminal(path)} again`;
}

async function list(flags: Flags): Promise<number> {
  const suite = loadSuite({ ...(flags.cases ? { dir: flags.cases } : {}) });
  const editions = editionsFor(flags, flags.target === undefined);
  if (!flags.target) {
    const cases = selectCases(suite, editions === 'auto' ? editionIds() : editions, flags.grep);
    if (cases.length === 0) throw new UsageError([`no case matches${flags.grep ? ` --grep ${escapeForTerminal(flags.grep)}` : ''}${flags.edition ? ` in --edition ${flags.edition}` : ''}`]);
    for (const c of cases) process.stdout.write(`${c.id}\t${c.title}\t[${c.requirements.join(', ')}]\n`);
    process.stdout.write(`${cases.length} cases\n`);
    return 0;
  }
  const p = await plan({ target: flags.target, editions, suite, services: servicesFor(flags, flags.target), timeoutMs: flags.timeout, rateLimitBudgetMs: flags.rateLimitBudget, ...(flags.grep ? { grep: flags.grep } : {}), ...(flags.specVersion ? { specVersion: flags.specVersion } : {}) });
  if (p.cases.length === 0) throw new UsageError([`no case matches${flags.grep ? ` --grep ${escapeForTerminal(flags.grep)}` : ''} in the editions selected (${p.editions.join(', ')})`]);
  let runs = 0;
  for (const c of p.cases) {
    const left = p.left.get(c.id);
    if (!left) runs++;
    process.stdout.write(`${c.id}\t${c.title}\t[${c.requirements.join(', ')}]${left ? `\tleft out: ${escapeForTerminal(left.reason)}` : ''}\n`);
  }
  const judged = Object.entries(p.versions).map(([e, v]) => `${e} by ${v.version}`).join(', ');
  process.stdout.write(`${runs} cases would run (${p.cases.length - runs} left out) — judged ${judged}\n`);
  return 0;
}

async function runSuite(flags: Flags): Promise<number> {
  if (flags.list) return list(flags);
  const embedded = flags.target === undefined;
  const editions = editionsFor(flags, embedded);
  const suite = loadSuite({ ...(flags.cases ? { dir: flags.cases } : {}) });
  // Before anything is sent: user filters that select nothing, a bad expectations file, unwritable paths.
  if (selectCases(suite, editions === 'auto' ? editionIds() : editions, flags.grep).length === 0) {
    throw new UsageError([`no case matches${flags.grep ? ` --grep ${escapeForTerminal(flags.grep)}` : ''}${flags.edition ? ` in --edition ${flags.edition}` : ''}`]);
  }
  const expectations = flags.expectations ? loadExpectations(flags.expectations, new Set(suite.cases.map((c) => c.id))) : undefined;
  const files = [...flags.reporters.map((r) => r.file).filter((f): f is string => f !== undefined), ...(flags.updateExpectations ? [flags.updateExpectations] : []), ...(flags.trace ? [flags.trace] : [])];
  const created = checkWritable(files);

  const redactor = new Redactor();
  const trace = flags.trace ? new HarWriter(flags.trace, redactor, suiteInfo()) : undefined;
  const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
  const reporters: Array<{ file?: string; r: Reporter; live: boolean }> = flags.reporters.map((spec) => {
    const live = spec.file === undefined;
    const def = reporter(spec.name);
    if (!def) throw new UsageError([`no reporter ${spec.name}`]);
    const r = def.create({ strict: flags.strict, color: live && color && spec.name === 'spec', ...(live && spec.name === 'spec' ? { write: (t: string) => void process.stdout.write(t) } : {}) });
    return { ...(spec.file ? { file: spec.file } : {}), r, live };
  });
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write('conformance: stopped at once\n');
      process.exit(130);
    }
    process.stderr.write('\nconformance: stopping: no new case starts; running requests end within their deadline; the reports list the rest as not run (again to stop at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Embedded, the gateway's certificate is made for the run: the bundled server is told not to verify it, as a test setup of Dendrite would be.
  // Its retries come sooner than a deployed server's would: the embedded run judges them, and waits for them.
  const server = embedded ? await createServer({ port: 0, host: '127.0.0.1', pushTlsVerify: false, pushRetryDelaysMs: EMBEDDED_RETRY_DELAYS_MS }) : undefined;
  try {
    const target = flags.target ?? (server as { url: string }).url;
    const startedAt = new Date().toISOString();
    for (const { r } of reporters) r.begin?.({ suite: suiteInfo(), target, embedded, editions, strict: flags.strict, ...(flags.expectations ? { expectations: flags.expectations } : {}), startedAt });
    let report: RunReport = await run({
      target,
      editions,
      suite,
      strict: flags.strict,
      jobs: flags.jobs,
      timeoutMs: flags.timeout,
      rateLimitBudgetMs: flags.rateLimitBudget,
      embedded,
      followRedirects: flags.followRedirects,
      repeat: flags.repeat,
      credentials: flags.credentials,
      services: servicesFor(flags, target, embedded),
      redactor,
      signal: controller.signal,
      onStart: (p) => {
        for (const { r } of reporters) r.plan?.(p);
      },
      onResult: (result, progress) => {
        // Shown as the gate will judge it: a known failure is not a FAIL line.
        const shown = expectations ? withExpectation(result, expectations, flags.strict) : result;
        for (const { r } of reporters) r.caseDone?.(shown, progress);
      },
      onRateLimit: (w) => {
        const text = rateLimitText(w);
        if (text) process.stderr.write(text + '\n');
      },
      onWait: (w) => {
        for (const { r } of reporters) r.waiting?.(w);
      },
      ...(trace ? { onExchange: (x) => trace.record(x) } : {}),
      ...(flags.specVersion ? { specVersion: flags.specVersion } : {}),
      ...(flags.registrationToken ? { registrationToken: flags.registrationToken } : {}),
      ...(flags.grep ? { grep: flags.grep } : {}),
    });
    if (report.results.every((r) => r.outcome === 'skipped' && r.skipCode === 'version')) {
      process.stderr.write(`conformance: every selected case is left out for the version judged (${Object.values(report.meta.specVersions).map((v) => v.version).join(', ')})\n`);
    }
    if (expectations) {
      report = { ...report, meta: { ...report.meta } };
      applyExpectations(report, expectations, flags.strict);
    }
    // A report that cannot be written (a full disk) does not stop the others; the run then exits 2, its record incomplete.
    const unwritten: string[] = [];
    const why = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'unknown error');
    for (const { file, r } of reporters) {
      const text = r.finish(report);
      if (!file) {
        process.stdout.write(text);
        continue;
      }
      try {
        writeFileSync(file, text);
      } catch (err) {
        unwritten.push(`cannot write the report ${escapeForTerminal(file)} (${escapeForTerminal(why(err))})`);
      }
    }
    if (flags.updateExpectations) {
      try {
        const n = writeExpectations(flags.updateExpectations, report, flags.strict, expectations);
        process.stderr.write(`conformance: wrote ${n} expected failure(s) to ${escapeForTerminal(flags.updateExpectations)}\n`);
      } catch (err) {
        unwritten.push(`cannot write the expectations file ${escapeForTerminal(flags.updateExpectations)} (${escapeForTerminal(why(err))})`);
      }
    }
    if (unwritten.length) {
      process.stderr.write(unwritten.map((u) => `conformance: ${u}\n`).join(''));
      return 2;
    }
    return exitCode(report, flags.strict);
  } catch (err) {
    // The run could not start: leave no empty report behind (the trace stays: it shows why).
    if (err instanceof ConformanceError) for (const f of created) if (f !== flags.trace) rmSync(f, { force: true });
    // Stopped before the first case (a signal during the first request's rate-limit waits): an interruption, not a bad target.
    if (err instanceof ConformanceError && controller.signal.aborted) {
      process.stderr.write('conformance: interrupted before the first case ran\n');
      return 130;
    }
    throw err;
  } finally {
    trace?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server?.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    // Only a run against a target takes accounts; `npx conformance` alone ignores them.
    const targeted = argv.some((a) => a === '--target' || a.startsWith('--target='));
    const flags = parseFlags(targeted ? [...argv, ...secretArgs(process.env)] : argv);
    if (flags.command === 'help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (flags.command === 'version') {
      process.stdout.write(`${suiteInfo().version}\n`);
      return 0;
    }
    if (flags.command === 'serve') return await serve(flags);
    if (flags.command === 'compare') return compare(flags);
    if (flags.command === 'coverage') {
      const rows = coverage(loadSpec(), loadSuite({ ...(flags.cases ? { dir: flags.cases } : {}) }));
      process.stdout.write(formatCoverage(rows));
      return rows.some((r) => r.level === 'MUST' && r.cases.length === 0) ? 1 : 0;
    }
    return await runSuite(flags);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(err.problems.map((p) => `conformance: ${p}`).join('\n') + '\nconformance: see conformance --help\n');
      return 2;
    }
    if (err instanceof CaseFileError) {
      process.stderr.write(`conformance: invalid case files, nothing was run:\n${err.message}\n`);
      return 2;
    }
    if (err instanceof ConformanceError && err.code.startsWith('ERR_TARGET')) {
      process.stderr.write(`conformance: ${escapeForTerminal(err.message)}\n`);
      return 3;
    }
    if (err instanceof ConformanceError) {
      process.stderr.write(`conformance: ${escapeForTerminal(err.message, true)}\n`);
      return 2;
    }
    throw err;
  }
}

// Run only when executed (directly or through the npm bin link), not when imported by tests.
const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  // A reader that goes away (`| head`) ends the run quietly, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`conformance: internal error (a bug in the suite, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
