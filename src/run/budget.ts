/**
 * Memory against targets that answer with large bodies. A body parsed into
 * values takes up to twenty times its size (a 1 MB array of 262 000 empty
 * objects takes 18 MB), and a run of sixteen cases against a target that
 * answered every pushers request so peaked at 1.7 GB. Three things keep it
 * within tens of megabytes of a run against a correct server:
 *
 * - a case with a large answer waits here before parsing it, until the other
 *   large answers being judged leave room (small answers never wait);
 * - fewer cases run at once while answers that parse into many values
 *   (HEAVY_VALUES) keep coming, so fewer are read at the same time:
 *   CONGESTED_JOBS, until WINDOW answers in a row have been light; from
 *   there (and from the start of a run, before any heavy answer) one more
 *   case may start with each light answer, up to --jobs, so a run against a
 *   target that answers heavy from its first request never has sixteen of
 *   them in flight. A megabyte of one long string parses into one value and
 *   slows nothing;
 * - once a large answer has been judged and the heap has grown by
 *   HEAP_GROWTH since the last collection, it is collected (see there).
 *
 * Only concurrency changes, never a verdict: the wait is counted as waiting,
 * not against the case's time bound.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Answers up to this size are judged at once, whatever else is in flight. */
export const LARGE_BODY = 64 * 1024;
/** Bytes of large answers judged at once by default: one answer at the body cap. */
export const DEFAULT_BODY_BUDGET = 1024 * 1024;
/**
 * Cases run at once while heavy answers keep coming, and at the start of a
 * run. One: each case in flight holds its answers while another's are
 * judged, and two measured 20 to 40 MB more at their peak.
 */
export const CONGESTED_JOBS = 1;
/** Light answers in a row after a heavy one before concurrency rises again. */
const WINDOW = 64;
/** Values a parsed answer may make and still be light: a list of 100 pushers makes about 2 000. */
export const HEAVY_VALUES = 50_000;

/**
 * Heap growth past which a large answer, once judged, is collected at once.
 * A parsed array outlives the young generation, and V8 lets such garbage pile
 * up to hundreds of megabytes before its next full collection (440 MB in a
 * run at --jobs 1 against a target answering 1 MB arrays); collecting when
 * the heap has grown this much costs a few milliseconds each time (past 16
 * MB, the peaks measured rose by 20 to 40 MB: V8's own collections then
 * come first).
 */
const HEAP_GROWTH = 16 * 1024 * 1024;

/** A promise and the function that fulfils it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

let collector: (() => void) | null | undefined;

/** V8's collector, reached through a fresh context (the flag is set for that moment only); null where it cannot be had. */
function collect(): (() => void) | null {
  if (collector !== undefined) return collector;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    collector = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    collector = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collector;
}

export class BodyBudget {
  private held = 0;
  private readonly queue: Array<{ bytes: number; grant: () => void }> = [];
  /** Light answers since the last heavy one (or since the start). */
  private lightStreak = 0;
  private heavySeen = false;
  /** Told when concurrency may have risen: an answer came, or a case ended. */
  private changedSignal = signal();
  private heapAfterCollection = getHeapStatistics().used_heap_size;

  constructor(readonly capacity = DEFAULT_BODY_BUDGET) {}

  /**
   * Waits until an answer of `bytes` fits (one larger than the whole budget
   * waits until nothing else is held), then holds them; the function
   * returned gives them back, once, however often it is called. `values` is
   * about how many values parsing it makes (json.ts jsonShape).
   */
  async acquire(bytes: number, values = 0): Promise<() => void> {
    const large = bytes > LARGE_BODY;
    this.answered(values);
    if (!large) return () => undefined;
    if (this.queue.length > 0 || !this.fits(bytes)) await new Promise<void>((grant) => this.queue.push({ bytes, grant }));
    else this.held += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      // Once the caller's frame, which still holds the parsed body, is gone.
      setImmediate(() => {
        this.collectIfGrown();
        this.admit();
      });
    };
  }

  /** Counts an answer that parses into about `values` values (0 for a request that got none) towards jobs(). */
  answered(values: number): void {
    if (values > HEAVY_VALUES) {
      this.heavySeen = true;
      this.lightStreak = 0;
    } else this.lightStreak++;
    this.changed();
  }

  /** How many cases may run at once: `jobs`, or fewer at the start and while heavy answers keep coming. */
  jobs(jobs: number): number {
    return Math.min(jobs, CONGESTED_JOBS + Math.max(0, this.lightStreak - (this.heavySeen ? WINDOW : 0)));
  }

  /** Resolves when jobs() may have risen: at the next answer, or when the runner says a case ended. */
  whenChanged(): Promise<void> {
    return this.changedSignal.promise;
  }

  changed(): void {
    this.changedSignal.resolve();
    this.changedSignal = signal();
  }

  private collectIfGrown(): void {
    if (getHeapStatistics().used_heap_size < this.heapAfterCollection + HEAP_GROWTH) return;
    collect()?.();
    this.heapAfterCollection = getHeapStatistics().used_heap_size;
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.capacity;
  }

  /** Grants waiting answers in order while they fit. */
  private admit(): void {
    while (this.queue.length > 0 && this.fits((this.queue[0] as { bytes: number }).bytes)) {
      const next = this.queue.shift() as { bytes: number; grant: () => void };
      this.held += next.bytes;
      next.grant();
    }
  }
}
