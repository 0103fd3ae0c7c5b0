#!/usr/bin/env node
/**
 * The command line: the only module that reads argv and env, writes to
 * stdout/stderr and sets the exit code. Everything else returns data.
 *
 * Commands:
  serve               run the bundled reference server until interrupted
  coverage            print requirement -> level -> cases; exit 1 if a MUST requirement has no case
  compare             print a Markdown table comparing JSON reports, case by case; --html FILE writes a page

Exit codes: 0 conforms at the chosen level; 1 some case fails or errors;
 * 2 usage error or invalid case file; 3 target unreachable, not Matrix, or no users.
 */
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from '../reference-server/index.js';
import { loadSuite } from './cases/load.js';
import { compareReports, comparisonHtml, comparisonMarkdown, defaultReportName, type NamedReport } from './compare.js';
import { coverage, formatCoverage } from './coverage.js';
import { applyExpectations, loadExpectations, writeExpectations } from './expectations.js';
import type { Credential } from './run/users.js';
import { CaseFileError, ConformanceError, UsageError } from './errors.js';
import { render, REPORTERS, type ReporterName } from './report/render.js';
import { DEFAULT_JOBS, run, selectCases } from './run/runner.js';
import { isFailing } from './run/types.js';
import { EDITIONS, loadSpec, type Edition } from './spec/requirements.js';
import { suiteInfo } from './version.js';
import type { RateLimitWait } from './http/transport.js';
import { escapeForTerminal } from './report/text.js';

const USAGE = `Usage:
  conformance [--target URL] [--edition draft|v1|all] [--strict] [--reporter spec|json|junit|tap[:FILE]]...
              [--output FILE] [--grep TEXT] [--jobs N] [--timeout MS] [--rate-limit-budget MS] [--list] [--repeat N]
              [--registration-token T | --user NAME:PASSWORD ... | --access-token T ...]
              [--expectations FILE] [--update-expectations FILE] [--follow-redirects]
  conformance serve [--port N] [--host H]
  conformance coverage
  conformance compare [NAME=]REPORT.json... [--html FILE] [--output FILE]

Runs the Matrix pushers API conformance cases against a homeserver.
Without --target, starts the bundled reference server in-process and runs every edition against it.

Options:
  --target URL        base URL of the homeserver, e.g. http://127.0.0.1:8008
  --edition E         draft, v1 or all (default: what the target advertises; all without --target)
  --strict            SHOULD failures count as failures (default: MUST only; SHOULD are warnings)
  --reporter R        spec (default), json (mocha JSON), junit (JUnit XML), tap; R:FILE writes to FILE;
                      repeat for several reports from one run
  --output FILE       write the report to FILE instead of stdout
  --grep TEXT         only cases whose id, title or tags contain TEXT
  --jobs N            cases run at once (default 16; 1 runs them one by one)
  --timeout MS        per-request deadline in milliseconds (default 10000)
  --rate-limit-budget MS   how long one request may spend waiting out 429 answers (default 60000)
  --list              list the selected cases and exit
  --repeat N          run every case N times; a case whose outcome varies is reported as flaky
  --registration-token T   complete the m.login.registration_token stage when registering users
  --user NAME:PASSWORD     use this account (repeat for cases that need two users); no registration
  --access-token T         use the account behind this token (repeatable); no registration
  --expectations FILE      known failures (YAML: case id -> reason, link); they do not fail the run,
                           but a listed case that passes does
  --update-expectations FILE   write the cases failing now to FILE
  --follow-redirects  follow 3xx answers (credentials are never sent to another origin)

Environment (keeps secrets out of the process list):
  CONFORMANCE_REGISTRATION_TOKEN   as --registration-token
  CONFORMANCE_USERS                as --user, one NAME:PASSWORD per line
  CONFORMANCE_ACCESS_TOKENS        as --access-token, one token per line
  --help, --version

Commands:
  serve               run the bundled reference server until interrupted
  coverage            print requirement -> level -> cases; exit 1 if a MUST requirement has no case
  compare             print a Markdown table comparing JSON reports, case by case; --html FILE writes a page

Exit codes: 0 conforms, 1 some case fails, 2 usage or case file error, 3 target unusable.`;

interface Flags {
  command: 'run' | 'serve' | 'coverage' | 'compare' | 'help' | 'version';
  target?: string;
  edition?: 'draft' | 'v1' | 'all';
  strict: boolean;
  /** Each reporter writes to its file, or to stdout (at most one). */
  reporters: Array<{ name: ReporterName; file?: string }>;
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
  followRedirects: boolean;
  repeat: number;
  html?: string;
  output?: string;
  files: string[];
}

const VALUE_FLAGS = new Set(['--target', '--edition', '--reporter', '--output', '--grep', '--jobs', '--timeout', '--rate-limit-budget', '--port', '--host', '--cases', '--registration-token', '--user', '--access-token', '--expectations', '--update-expectations', '--repeat', '--html']);
const BOOL_FLAGS = new Set(['--strict', '--list', '--help', '--version', '--follow-redirects']);
const SERVE_FLAGS = new Set(['--port', '--host', '--help']);
const COVERAGE_FLAGS = new Set(['--cases', '--help']);
const COMPARE_FLAGS = new Set(['--html', '--output', '--help']);
const RUN_FLAGS = new Set([...VALUE_FLAGS, ...BOOL_FLAGS].filter((f) => !['--port', '--host', '--html'].includes(f)));

function intIn(name: string, raw: string, min: number, max: number, problems: string[]): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) problems.push(`${name} takes a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** Parses argv; collects every problem before failing, so one run shows them all. */
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
    // One value, or (for the repeatable ones) one per line.
    const values = flag === '--registration-token' ? [value.trim()] : value.split(/\r?\n/).map((v) => v.trim()).filter(Boolean);
    for (const v of values) out.push(`${flag}=${v}`);
  }
  return out;
}

export function parseFlags(argv: readonly string[]): Flags {
  const problems: string[] = [];
  const flags: Flags = { command: 'run', strict: false, reporters: [], jobs: DEFAULT_JOBS, timeout: 10_000, rateLimitBudget: 60_000, list: false, port: 8008, host: '127.0.0.1', credentials: [], followRedirects: false, repeat: 1, files: [] };
  const args = [...argv];
  if (args[0] === 'serve' || args[0] === 'coverage' || args[0] === 'compare') {
    flags.command = args[0];
    args.shift();
  } else if (args[0] !== undefined && !args[0].startsWith('-')) {
    problems.push(`unknown command "${args[0]}" (commands: serve, coverage, compare)`);
    args.shift();
  }
  for (let i = 0; i < args.length; i++) {
    let arg = args[i] as string;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (flags.command === 'compare' && !arg.startsWith('-')) {
      flags.files.push(arg);
      continue;
    }
    const allowed = flags.command === 'serve' ? SERVE_FLAGS : flags.command === 'coverage' ? COVERAGE_FLAGS : flags.command === 'compare' ? COMPARE_FLAGS : RUN_FLAGS;
    if (allowed && !allowed.has(arg) && (VALUE_FLAGS.has(arg) || BOOL_FLAGS.has(arg))) {
      problems.push(`${flags.command} does not take ${arg}`);
      if (VALUE_FLAGS.has(arg) && value === undefined) i++;
      continue;
    }
    if (BOOL_FLAGS.has(arg)) {
      if (value !== undefined) problems.push(`${arg} takes no value`);
      if (arg === '--strict') flags.strict = true;
      if (arg === '--list') flags.list = true;
      if (arg === '--help') flags.command = 'help';
      if (arg === '--version') flags.command = 'version';
      if (arg === '--follow-redirects') flags.followRedirects = true;
      continue;
    }
    if (!VALUE_FLAGS.has(arg)) {
      problems.push(arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument "${arg}"`);
      continue;
    }
    if (value === undefined) {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) {
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
        if (!u || !['http:', 'https:'].includes(u.protocol)) problems.push(`--target must be an http(s) URL, got "${value}"`);
        else flags.target = value.replace(/\/+$/, '');
        break;
      }
      case '--edition':
        if (value === 'draft' || value === 'v1' || value === 'all') flags.edition = value;
        else problems.push(`--edition is draft, v1 or all, got "${value}"`);
        break;
      case '--reporter': {
        const colon = value.indexOf(':');
        const name = colon > 0 ? value.slice(0, colon) : value;
        if ((REPORTERS as readonly string[]).includes(name)) flags.reporters.push({ name: name as ReporterName, ...(colon > 0 ? { file: value.slice(colon + 1) } : {}) });
        else problems.push(`--reporter is one of ${REPORTERS.join(', ')} (optionally NAME:FILE), got "${value}"`);
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
      case '--repeat':
        flags.repeat = intIn('--repeat', value, 1, 1000, problems);
        break;
      case '--html':
        flags.html = value;
        break;
    }
  }
  if (flags.registrationToken && flags.credentials.length) problems.push('--registration-token registers users; --user and --access-token give them: choose one way');
  if ((flags.registrationToken || flags.credentials.length) && flags.command === 'run' && !flags.target && !flags.list) problems.push('--registration-token, --user and --access-token need --target');
  if (flags.command === 'compare' && flags.files.length === 0 && !problems.length) problems.push('compare needs one or more JSON reports (written with --reporter json)');
  if (flags.command === 'run') {
    if (flags.reporters.length === 0) flags.reporters.push({ name: 'spec' });
    // --output names the file of the one reporter that has none.
    const unnamed = flags.reporters.filter((r) => r.file === undefined);
    if (flags.output !== undefined) {
      if (unnamed.length === 1) (unnamed[0] as { file?: string }).file = flags.output;
      else problems.push('--output names the file of one reporter; with several, use --reporter NAME:FILE');
    } else if (unnamed.length > 1) problems.push('only one reporter can write to stdout; give the others a file with --reporter NAME:FILE');
  }
  if (problems.length) throw new UsageError(problems);
  return flags;
}

function editionsFor(flags: Flags, embedded: boolean): readonly Edition[] | 'auto' {
  if (flags.edition === 'all' || (embedded && flags.edition === undefined)) return EDITIONS;
  if (flags.edition) return [flags.edition];
  return 'auto';
}

async function serve(flags: Flags): Promise<number> {
  const server = await createServer({ port: flags.port, host: flags.host });
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
  const comparison = compareReports(reports);
  const markdown = comparisonMarkdown(comparison);
  if (flags.output) writeFileSync(flags.output, markdown);
  else process.stdout.write(markdown);
  if (flags.html) writeFileSync(flags.html, comparisonHtml(comparison));
  return 0;
}

/** Says on stderr when the run waits a noticeable time for a rate limit; short back-offs pass silently. */
function rateLimitNotice(w: RateLimitWait): void {
  if (w.waitMs < 1000) return;
  let path = w.url;
  try {
    path = new URL(w.url).pathname;
  } catch {
    // keep the URL as it is
  }
  const from = w.source === 'back-off' ? 'back-off' : w.source;
  process.stderr.write(`conformance: rate-limited: waiting ${(w.waitMs / 1000).toFixed(1)} s (${from}) before sending ${w.method} ${escapeForTerminal(path)} again\n`);
}

async function runSuite(flags: Flags): Promise<number> {
  const embedded = flags.target === undefined;
  const editions = editionsFor(flags, embedded);
  const suite = loadSuite({ ...(flags.cases ? { dir: flags.cases } : {}) });
  if (flags.list) {
    const cases = selectCases(suite, editions === 'auto' ? EDITIONS : editions, flags.grep);
    for (const c of cases) process.stdout.write(`${c.id}\t${c.title}\t[${c.requirements.join(', ')}]\n`);
    process.stdout.write(`${cases.length} cases\n`);
    return 0;
  }
  // Read before anything is sent: a bad expectations file is a usage problem, not a verdict.
  const expectations = flags.expectations ? loadExpectations(flags.expectations, new Set(suite.cases.map((c) => c.id))) : undefined;
  const server = embedded ? await createServer({ port: 0, host: '127.0.0.1' }) : undefined;
  try {
    const report = await run({
      target: flags.target ?? (server as { url: string }).url,
      editions,
      suite,
      strict: flags.strict,
      jobs: flags.jobs,
      timeoutMs: flags.timeout,
      rateLimitBudgetMs: flags.rateLimitBudget,
      onRateLimit: rateLimitNotice,
      embedded,
      followRedirects: flags.followRedirects,
      repeat: flags.repeat,
      credentials: flags.credentials,
      ...(flags.registrationToken ? { registrationToken: flags.registrationToken } : {}),
      ...(flags.grep ? { grep: flags.grep } : {}),
    });
    if (expectations) applyExpectations(report, expectations, flags.strict);
    for (const r of flags.reporters) {
      const text = await render(report, { reporter: r.name, strict: flags.strict, color: !r.file && r.name === 'spec' && process.stdout.isTTY === true });
      if (r.file) writeFileSync(r.file, text);
      else process.stdout.write(text);
    }
    if (flags.updateExpectations) {
      const n = writeExpectations(flags.updateExpectations, report, flags.strict, expectations);
      process.stderr.write(`conformance: wrote ${n} expected failure(s) to ${flags.updateExpectations}\n`);
    }
    return report.results.some((r) => isFailing(r, flags.strict)) ? 1 : 0;
  } finally {
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
      process.stderr.write(err.problems.map((p) => `conformance: ${p}`).join('\n') + '\n\n' + USAGE + '\n');
      return 2;
    }
    if (err instanceof CaseFileError) {
      process.stderr.write(`conformance: invalid case files, nothing was run:\n${err.message}\n`);
      return 2;
    }
    if (err instanceof ConformanceError && err.code.startsWith('ERR_TARGET')) {
      process.stderr.write(`conformance: ${err.message}\n`);
      return 3;
    }
    if (err instanceof ConformanceError) {
      process.stderr.write(`conformance: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

// Run only when executed (directly or through the npm bin link), not when imported by tests.
const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) {
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
