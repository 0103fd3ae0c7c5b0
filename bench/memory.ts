/**
 * Peak memory of the CLI, each run in a process of its own (its peak RSS read
 * through peak-rss.ts), against targets on loopback hosted by the bench:
 *
 * - the reference server (a correct target);
 * - a target answering every pushers request with a 1 MB JSON array of
 *   262 000 empty objects (test/support/misbehaving-server.ts, mode
 *   mega-array), which once took the runner to 1.69 GB and 27 s;
 *
 * both with --no-delivery, so that the same cases run; RUNS of each, in
 * turns, each cut at RUN_BOUND_MS. Then where the memory of a normal run goes
 * (baseline-rss.ts, in a fresh process). Figures only; nothing is asserted.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from '../reference-server/index.js';
import { startMisbehaving } from '../test/support/misbehaving-server.js';
import { median, ms, round } from './stats.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const PEAK = fileURLToPath(new URL('./peak-rss.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('./baseline-rss.js', import.meta.url));
const RUNS = 3;
const RUN_BOUND_MS = 60_000;

interface CliRun {
  peakMB: number;
  wallMs: number;
  code: number | null;
  cut: boolean;
}

/** Runs the CLI with `args` in a child process; its peak RSS and wall time. */
function cliRun(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', PEAK, CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let cut = false;
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    const bound = setTimeout(() => {
      cut = true;
      child.kill('SIGKILL');
    }, RUN_BOUND_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(bound);
      const kb = /peak-rss-kb (\d+)\s*$/.exec(stderr)?.[1];
      resolve({ peakMB: kb === undefined ? NaN : round(Number(kb) / 1024, 1), wallMs: performance.now() - started, code, cut });
    });
  });
}

/** Where a normal run's memory goes, step by step, in a fresh process. */
function baseline(target: string): Promise<{ steps: Array<{ step: string; rssMB: number; heapMB: number }>; peakMB: number } | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BASELINE, target], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const bound = setTimeout(() => child.kill('SIGKILL'), RUN_BOUND_MS);
    child.on('close', () => {
      clearTimeout(bound);
      try {
        resolve(JSON.parse(out) as { steps: Array<{ step: string; rssMB: number; heapMB: number }>; peakMB: number });
      } catch {
        resolve(undefined);
      }
    });
  });
}

export async function memoryBench(say: (text?: string) => void): Promise<Record<string, unknown>> {
  say('== memory: peak RSS of the CLI (--no-delivery, default --jobs), a process per run ==');
  const reference = await createServer({ port: 0 });
  const hostile = await startMisbehaving({ at: 'pushers', mode: 'mega-array' });
  try {
    const runs: Record<'correct' | 'array', CliRun[]> = { correct: [], array: [] };
    for (let i = 0; i < RUNS; i++) {
      runs.correct.push(await cliRun(['--target', reference.url, '--no-delivery']));
      runs.array.push(await cliRun(['--target', hostile.url, '--no-delivery']));
    }
    const summary = (label: string, rs: CliRun[]): Record<string, unknown> => {
      const peak = median(rs.map((r) => r.peakMB));
      const wall = median(rs.map((r) => r.wallMs));
      const cut = rs.filter((r) => r.cut).length;
      say(`${label.padEnd(58)} peak RSS ${String(peak).padStart(6)} MB (runs: ${rs.map((r) => r.peakMB).join(', ')}), wall ${ms(wall)}, exit ${rs.map((r) => r.code).join('/')}${cut ? `, ${cut} cut at ${ms(RUN_BOUND_MS)}` : ''}`);
      return { peakMB: peak, peaksMB: rs.map((r) => r.peakMB), wallMs: round(wall), exits: rs.map((r) => r.code), cut };
    };
    const correct = summary('the reference server (correct)', runs.correct);
    const array = summary('1 MB arrays of 262 000 {} for every pushers request', runs.array);
    say(`the array target adds ${round((array['peakMB'] as number) - (correct['peakMB'] as number), 1)} MB of peak RSS`);
    const where = await baseline(reference.url);
    if (where) {
      say('where a normal run\'s memory goes (RSS and V8 heap after each step, fresh process):');
      for (const s of where.steps) say(`  ${s.step.padEnd(34)} RSS ${String(s.rssMB).padStart(6)} MB, heap ${String(s.heapMB).padStart(6)} MB`);
      say(`  peak of that process: ${where.peakMB} MB`);
    }
    say();
    return { correct, array, addedMB: round((array['peakMB'] as number) - (correct['peakMB'] as number), 1), baseline: where };
  } finally {
    await hostile.close();
    await reference.close();
  }
}
