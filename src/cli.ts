#!/usr/bin/env node
/**
 * The command line: the only module that reads argv and env, writes to
 * stdout/stderr and sets the exit code. Everything else returns data.
 *
 * Commands:
  serve               run the bundled reference server until interrupted
  coverage            print requirement -> level -> cases; exit 1 if a MUST requirement has no case

Exit codes: 0 conforms at the chosen level; 1 some case fails or errors;
 * 2 usage error or invalid case file; 3 target unreachable, not Matrix, or no users.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from '../reference-server/index.js';
import { loadSuite } from './cases/load.js';
import { coverage, formatCoverage } from './coverage.js';
import { CaseFileError, ConformanceError, UsageError } from './errors.js';
import { render, REPORTERS, type ReporterName } from './report/render.js';
import { run, selectCases } from './run/runner.js';
import { isFailing } from './run/types.js';
import { EDITIONS, loadSpec, type Edition } from './spec/requirements.js';
import { suiteInfo } from './version.js';

const USAGE = `Usage:
  conformance [--target URL] [--edition draft|v1|all] [--strict] [--reporter spec|json|junit|tap]
              [--output FILE] [--grep TEXT] [--jobs N] [--timeout MS] [--list]
  conformance serve [--port N] [--host H]
  conformance coverage

Runs the Matrix pushers API conformance cases against a homeserver.
Without --target, starts the bundled reference server in-process and runs every edition against it.

Options:
  --target URL        base URL of the homeserver, e.g. http://127.0.0.1:8008
  --edition E         draft, v1 or all (default: what the target advertises; all without --target)
  --strict            SHOULD failures count as failures (default: MUST only; SHOULD are warnings)
  --reporter R        spec (default), json (mocha JSON), junit (JUnit XML), tap
  --output FILE       write the report to FILE instead of stdout
  --grep TEXT         only cases whose id, title or tags contain TEXT
  --jobs N            cases run at once (default 8; 1 runs them one by one)
  --timeout MS        per-request deadline in milliseconds (default 10000)
  --list              list the selected cases and exit
  --help, --version

Commands:
  serve               run the bundled reference server until interrupted
  coverage            print requirement -> level -> cases; exit 1 if a MUST requirement has no case

Exit codes: 0 conforms, 1 some case fails, 2 usage or case file error, 3 target unusable.`;

interface Flags {
  command: 'run' | 'serve' | 'coverage' | 'help' | 'version';
  target?: string;
  edition?: 'draft' | 'v1' | 'all';
  strict: boolean;
  reporter: ReporterName;
  output?: string;
  grep?: string;
  jobs: number;
  timeout: number;
  list: boolean;
  port: number;
  host: string;
  cases?: string;
}

const VALUE_FLAGS = new Set(['--target', '--edition', '--reporter', '--output', '--grep', '--jobs', '--timeout', '--port', '--host', '--cases']);
const BOOL_FLAGS = new Set(['--strict', '--list', '--help', '--version']);
const SERVE_FLAGS = new Set(['--port', '--host', '--help']);
const COVERAGE_FLAGS = new Set(['--cases', '--help']);

function intIn(name: string, raw: string, min: number, max: number, problems: string[]): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) problems.push(`${name} takes a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** Parses argv; collects every problem before failing, so one run shows them all. */
export function parseFlags(argv: readonly string[]): Flags {
  const problems: string[] = [];
  const flags: Flags = { command: 'run', strict: false, reporter: 'spec', jobs: 8, timeout: 10_000, list: false, port: 8008, host: '127.0.0.1' };
  const args = [...argv];
  if (args[0] === 'serve' || args[0] === 'coverage') {
    flags.command = args[0];
    args.shift();
  } else if (args[0] !== undefined && !args[0].startsWith('-')) {
    problems.push(`unknown command "${args[0]}" (commands: serve, coverage)`);
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
    const allowed = flags.command === 'serve' ? SERVE_FLAGS : flags.command === 'coverage' ? COVERAGE_FLAGS : undefined;
    if (allowed && !allowed.has(arg)) {
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
      continue;
    }
    if (!VALUE_FLAGS.has(arg)) {
      problems.push(`unknown option ${arg}`);
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
      case '--reporter':
        if ((REPORTERS as readonly string[]).includes(value)) flags.reporter = value as ReporterName;
        else problems.push(`--reporter is one of ${REPORTERS.join(', ')}, got "${value}"`);
        break;
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
      case '--port':
        flags.port = intIn('--port', value, 0, 65535, problems);
        break;
      case '--host':
        flags.host = value;
        break;
    }
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
  const server = embedded ? await createServer({ port: 0, host: '127.0.0.1' }) : undefined;
  try {
    const report = await run({
      target: flags.target ?? (server as { url: string }).url,
      editions,
      suite,
      strict: flags.strict,
      jobs: flags.jobs,
      timeoutMs: flags.timeout,
      embedded,
      ...(flags.grep ? { grep: flags.grep } : {}),
    });
    const text = await render(report, { reporter: flags.reporter, strict: flags.strict, color: !flags.output && flags.reporter === 'spec' && process.stdout.isTTY === true });
    if (flags.output) writeFileSync(flags.output, text);
    else process.stdout.write(text);
    return report.results.some((r) => isFailing(r, flags.strict)) ? 1 : 0;
  } finally {
    await server?.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const flags = parseFlags(argv);
    if (flags.command === 'help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (flags.command === 'version') {
      process.stdout.write(`${suiteInfo().version}\n`);
      return 0;
    }
    if (flags.command === 'serve') return await serve(flags);
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
