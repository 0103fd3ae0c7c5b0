/**
 * The CLI as a user runs it, timed from process start to exit, with its peak
 * memory: `node dist/src/cli.js ARGS`, killed past a bound.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PEAK_RSS_PREFIX } from './peak-rss-line.js';
import { median, ms, round } from './stats.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
/** The project's root (dist/bench/ is two levels below it), where npx finds the package's own bin. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PEAK_RSS = new URL('./peak-rss.js', import.meta.url).href;

export interface CliRun {
  wallMs: number;
  code: number | null;
  /** Peak resident set size of the CLI process, in MB. */
  peakRssMb: number;
  stderr: string;
}

/** Runs the CLI once; stdout is dropped. */
export function runCli(args: readonly string[], boundMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', PEAK_RSS, CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.on('close', (code) => {
      clearTimeout(kill);
      const line = stderr.split('\n').find((l) => l.startsWith(PEAK_RSS_PREFIX));
      resolve({ wallMs: performance.now() - started, code, peakRssMb: line ? round(Number(line.slice(PEAK_RSS_PREFIX.length)) / 1024) : NaN, stderr: stderr.split('\n').filter((l) => l && !l.startsWith(PEAK_RSS_PREFIX)).join('\n') });
    });
  });
}

/** `npx conformance ARGS` from the project's root, as the README's quick start runs it; stdout dropped. */
function runNpx(args: readonly string[], boundMs = 60_000): Promise<{ wallMs: number; code: number | null }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn('npx', ['conformance', ...args], { cwd: ROOT, stdio: 'ignore' });
    const kill = setTimeout(() => child.kill('SIGKILL'), boundMs);
    const done = (code: number | null): void => {
      clearTimeout(kill);
      resolve({ wallMs: performance.now() - started, code });
    };
    child.on('close', done);
    child.on('error', () => done(null));
  });
}

interface Variant {
  name: string;
  run: () => Promise<{ wallMs: number; code: number | null }>;
  walls: number[];
  codes: Array<number | null>;
}

/**
 * The embedded run with every delivery case and with --no-delivery, side by
 * side: RUNS of each, interleaved, so that background load hits both alike.
 * Twice: the CLI's own process (node dist/src/cli.js), and through npx as a
 * user types it, with `npx conformance --version` for what npx itself costs.
 */
export async function deliveryOverhead(runs = 5): Promise<Record<string, unknown>> {
  const variants: Variant[] = [
    { name: 'node dist/src/cli.js (every case, delivery included)', run: () => runCli(['--reporter', 'json']), walls: [], codes: [] },
    { name: 'node dist/src/cli.js --no-delivery', run: () => runCli(['--no-delivery', '--reporter', 'json']), walls: [], codes: [] },
    { name: 'npx conformance (every case, delivery included)', run: () => runNpx([]), walls: [], codes: [] },
    { name: 'npx conformance --no-delivery', run: () => runNpx(['--no-delivery']), walls: [], codes: [] },
    { name: 'npx conformance --version (npx and the CLI starting, no run)', run: () => runNpx(['--version']), walls: [], codes: [] },
  ];
  // The first npx in a clone installs the project into npx's cache (see scripts/prepare.mjs): not timed.
  await runNpx(['--version']);
  for (let i = 0; i < runs; i++) {
    for (const v of variants) {
      const r = await v.run();
      v.walls.push(r.wallMs);
      v.codes.push(r.code);
    }
  }
  const summary = variants.map((v) => ({ name: v.name, medianMs: round(median(v.walls)), runsMs: v.walls.map((w) => Math.round(w)), exitCodes: [...new Set(v.codes)] }));
  for (const v of summary) process.stdout.write(`${v.name}: median ${ms(v.medianMs)} (${v.runsMs.join(' ')} ms; exit ${v.exitCodes.join(', ')})\n`);
  const ratio = (a: number, b: number): number => round((summary[a]?.medianMs ?? NaN) / (summary[b]?.medianMs ?? NaN), 2);
  const cli = ratio(0, 1);
  const npx = ratio(2, 3);
  process.stdout.write(`with delivery / --no-delivery: ${cli}× for the CLI's process, ${npx}× through npx (goal ≤ 1.5×); the whole run through npx: ${ms(summary[2]?.medianMs ?? NaN)} (goal ≤ 1.5 s)\n`);
  return { variants: summary, ratio: cli, ratioNpx: npx };
}
