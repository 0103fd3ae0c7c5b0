#!/usr/bin/env node
/**
 * The command line: the only module that reads argv and env, writes to
 * stdout/stderr, handles signals and sets the exit code. It parses the
 * command line through the option table (cli/options.ts) and hands each
 * command (cli/run.ts, serve.ts, compare.ts, coverage.ts) its settings and
 * an Io; the commands call the public API in index.ts, which returns data.
 *
 * Exit codes: 0 what was judged conforms (or, with --expectations, the gate
 * passes); 1 some case fails or errors (or the gate fails); 2 usage error,
 * invalid case or expectations file, unwritable report path, nothing left to
 * judge after the user's filters; 3 target unreachable, not Matrix, no users
 * before any case ran, or no selected case could be judged; 130 interrupted.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Io } from './cli/io.js';
import { parseCommandLine, usage } from './cli/options.js';
import { listCommand, runCommand, runSettings } from './cli/run.js';
import { CaseFileError, ConformanceError, UsageError } from './errors.js';
import { escapeForTerminal } from './text.js';
import { suiteInfo } from './version.js';

/** The process's streams and signals, for one command. */
function processIo(): { io: Io; release: () => void } {
  const controller = new AbortController();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write('conformance: stopped at once\n');
      process.exit(130);
    }
    stop();
    if (!controller.signal.aborted) controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const io: Io = {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    color: process.stdout.isTTY === true && !process.env['NO_COLOR'],
    signal: controller.signal,
    stopped,
  };
  return {
    io,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseCommandLine(argv, process.env);
  const { command, values, positionals } = parsed;
  // The checks across options (run's and compare's) join those of each option, so one run shows every problem.
  if (parsed.problems.length) {
    const more: string[] = [];
    try {
      if (command === 'run' || command === 'list') runSettings(values, command === 'list' || values['list'] === true ? 'list' : 'run');
      if (command === 'compare') (await import('./cli/compare.js')).compareSettings(values, positionals);
    } catch (err) {
      if (err instanceof UsageError) more.push(...err.problems);
    }
    throw new UsageError([...parsed.problems, ...more]);
  }
  if (values['help'] === true) {
    io.out(usage() + '\n');
    return 0;
  }
  if (values['version'] === true) {
    io.out(`${suiteInfo().version}\n`);
    return 0;
  }
  // Commands other than run and list are loaded when asked for: a run does not pay for their modules.
  switch (command) {
    case 'serve': {
      const { serveCommand, serveSettings } = await import('./cli/serve.js');
      return serveCommand(serveSettings(values), io);
    }
    case 'compare': {
      const { compareCommand, compareSettings } = await import('./cli/compare.js');
      return compareCommand(compareSettings(values, positionals), io);
    }
    case 'coverage':
      return (await import('./cli/coverage.js')).coverageCommand(values, io);
    case 'list':
      return listCommand(runSettings(values, 'list'), io);
    case 'run': {
      const settings = runSettings(values, values['list'] === true ? 'list' : 'run');
      if (values['list'] === true) return listCommand(settings, io);
      io.signal.addEventListener('abort', () => io.err('\nconformance: stopping: no new case starts; running requests end within their deadline; the reports list the rest as not run (again to stop at once)\n'), { once: true });
      try {
        return await runCommand(settings, io);
      } catch (err) {
        // Stopped before the first case (a signal during the first request's rate-limit waits): an interruption, not a bad target.
        if (err instanceof ConformanceError && io.signal.aborted) {
          io.err('conformance: interrupted before the first case ran\n');
          return 130;
        }
        throw err;
      }
    }
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const { io, release } = processIo();
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      // Problems may quote a file or a value the user gave: escaped like everything else shown.
      io.err(err.problems.map((p) => `conformance: ${escapeForTerminal(p)}`).join('\n') + '\nconformance: see conformance --help\n');
      return 2;
    }
    if (err instanceof CaseFileError) {
      io.err(`conformance: invalid case files, nothing was run:\n${err.message}\n`);
      return 2;
    }
    if (err instanceof ConformanceError && err.code.startsWith('ERR_TARGET')) {
      io.err(`conformance: ${escapeForTerminal(err.message)}\n`);
      return 3;
    }
    if (err instanceof ConformanceError) {
      io.err(`conformance: ${escapeForTerminal(err.message, true)}\n`);
      return 2;
    }
    throw err;
  } finally {
    release();
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
  let settled = false;
  // A run whose promises can no longer settle (a bug: nothing left to wake them) would end with exit 0, as if it had
  // passed: the process ending first is an internal error, never a green run.
  process.once('beforeExit', () => {
    if (settled) return;
    process.stderr.write('conformance: internal error (a bug in the suite, please report it): the run stopped before reaching an outcome\n');
    process.exitCode = 70;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`conformance: internal error (a bug in the suite, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
