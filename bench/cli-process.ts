/**
 * The CLI as a user runs it, timed from process start to exit, with its peak
 * memory: `node dist/src/cli.js ARGS`, killed past a bound.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PEAK_RSS_PREFIX } from './peak-rss-line.js';
import { median, ms, round } from './stats.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
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

/**
 * The embedded run with every delivery case and with --no-delivery, side by
 * side: RUNS of each, interleaved, so that background load hits both alike.
 */
export async function deliveryOverhead(runs = 5): Promise<Record<string, unknown>> {
  const variants: Array<{ name: string; args: string[]; walls: number[]; codes: Array<number | null> }> = [
    { name: 'npx conformance (every case, delivery included)', args: [], walls: [], codes: [] },
    { name: 'npx conformance --no-delivery', args: ['--no-delivery'], walls: [], codes: [] },
  ];
  for (let i = 0; i < runs; i++) {
    for (const v of variants) {
      const r = await runCli([...v.args, '--reporter', 'json'], 60_000);
      v.walls.push(r.wallMs);
      v.codes.push(r.code);
    }
  }
  const summary = variants.map((v) => ({ name: v.name, medianMs: round(median(v.walls)), runsMs: v.walls.map((w) => Math.round(w)), exitCodes: [...new Set(v.codes)] }));
  for (const v of summary) process.stdout.write(`${v.name}: median ${ms(v.medianMs)} (${v.runsMs.join(' ')} ms)\n`);
  const withDelivery = summary[0];
  const without = summary[1];
  const ratio = withDelivery && without ? round(withDelivery.medianMs / without.medianMs, 2) : NaN;
  process.stdout.write(`with delivery / --no-delivery: ${ratio}× (goal ≤ 1.5×; whole process, start to exit)\n`);
  return { withDelivery, withoutDelivery: without, ratio };
}
