/**
 * Runs of the suite against test servers, queued and started a few at once:
 * much of a run is waiting (for a poke that never comes, for a retry window),
 * so runs overlap well. A test file schedules its runs in its first before(),
 * longest waits first, and each test awaits its own.
 */
import type { RunReport } from '../../src/run/types.js';
import type { Mutation } from './proxy-server.js';

/**
 * A bound on each request, not a verdict: no server here hangs, but several
 * runs at once in one process, beside other test files, can take seconds to
 * answer on a loaded machine.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface RunQueue {
  /** Queues a run under `key` (once); it starts when start() or a finished run makes room. */
  schedule(key: string, start: () => Promise<RunReport>): void;
  /** Starts queued runs, up to the number at once. */
  start(): void;
  /** The report of the run scheduled under `key`. */
  report(key: string): Promise<RunReport>;
}

export function runQueue(atOnce: number): RunQueue {
  const scheduled = new Map<string, Promise<RunReport>>();
  const pending: Array<() => void> = [];
  let active = 0;
  const next = (): void => {
    while (active < atOnce && pending.length) pending.shift()?.();
  };
  return {
    schedule(key, start) {
      if (scheduled.has(key)) return;
      const run = new Promise<RunReport>((resolve, reject) => {
        pending.push(() => {
          active++;
          start()
            .then(resolve, reject)
            .finally(() => {
              active--;
              next();
            });
        });
      });
      // Awaited by its test, maybe after it failed: not an unhandled rejection meanwhile.
      run.catch(() => undefined);
      scheduled.set(key, run);
    },
    start: next,
    report(key) {
      const p = scheduled.get(key);
      if (!p) throw new Error(`no run scheduled for ${key}`);
      return p;
    },
  };
}

/**
 * The cases a correct server left not judged for a reason of the target's,
 * beyond those its entry allows (Mutation.notJudged): a correct server must be
 * judged, not merely left unfailed. A server run without delivery is offered no
 * gateway on purpose, so its delivery cases are not counted.
 */
export function unjudged(report: RunReport, m: Mutation): string[] {
  const offered = (r: RunReport['results'][number]): boolean => m.delivery === true || r.skipCode !== 'needs-gateway';
  return report.results.filter((r) => r.outcome === 'skipped' && r.skipCause === 'target' && offered(r) && !(m.notJudged ?? []).includes(r.id)).map((r) => `${r.id}: ${r.skipReason ?? ''}`);
}
