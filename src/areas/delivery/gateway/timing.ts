/**
 * How long the delivery cases wait, and why: one object per run, held by the
 * mock gateway, that the delivery steps ask.
 *
 * A check that something did not arrive waits for a witness first (a later
 * poke for the same user) and then for a quiet period derived from what this
 * target showed during the run: QUIET_FACTOR times the slowest poke seen so
 * far (from the answer to the request that caused it to the poke's arrival),
 * never under QUIET_FLOOR_MS nor over QUIET_CEILING_MS. A forbidden poke that
 * comes later than that after the witness goes unseen: the period each check
 * used is in its case's result (`periods`), so a report says how far it
 * looked. `--quiet-period MS` fixes it by hand.
 *
 * The retry window (how long a poke answered 500 may take to come again) is
 * 65 s, or what `--retry-window` says. A window the user shortened cannot
 * show that a server never retries, only that it did not within the window:
 * then the check is not judged (see `retryWindow().shortened`).
 *
 * `timeScale` is for the project's own tests alone: it multiplies the
 * timeouts and windows (not the quiet period's floor, which bounds what a
 * check can see), so that servers that never notify or never retry take
 * seconds, not minutes, while every verdict stays what it would be at 1.
 */

/** How many times the slowest poke so far a quiet period lasts. */
export const QUIET_FACTOR = 3;
/**
 * The shortest quiet period. A server that delivers in order pokes about an
 * earlier message before the witness about a later one; this is the margin
 * for one that does not, against a target whose pokes take milliseconds.
 */
export const QUIET_FLOOR_MS = 100;
/** The longest derived quiet period (a target whose pokes take seconds). */
export const QUIET_CEILING_MS = 10_000;
/** How long a poke that must come may take (each step may say otherwise). */
export const DEFAULT_AWAIT_MS = 15_000;
/**
 * How long a poke answered 500 may take to come again: the spec asks for
 * retries "for a reasonable amount of time using exponential backoff";
 * Synapse's first comes after about 1 s, the Conduit family's after 30 s.
 */
export const DEFAULT_RETRY_WINDOW_MS = 65_000;

export interface TimingOptions {
  /** --quiet-period: every quiet period lasts this long, whatever the target showed. */
  quietPeriodMs?: number;
  /** --retry-window, in ms: how long a retry may take. Shorter than the default, a missing retry is not judged. */
  retryWindowMs?: number;
  /** Tests only: multiplies every timeout and window (default 1). */
  timeScale?: number;
}

/** A period a step waited, and what it was derived from: part of the case's result. */
export interface Period {
  /** quiet: a check that nothing more arrives; wait: time given to the target; window: how long a retry may take. */
  kind: 'quiet' | 'wait' | 'window';
  ms: number;
  /** In words, e.g. "3 × 120 ms (the slowest of 7 poke(s) so far took 120 ms)". */
  basis: string;
}

export class DeliveryTiming {
  #slowestMs = 0;
  #samples = 0;
  readonly scale: number;

  constructor(private readonly options: TimingOptions = {}) {
    this.scale = options.timeScale ?? 1;
  }

  /** A poke arrived `ms` after the answer to the request that caused it. */
  noteLatency(ms: number): void {
    this.#samples += 1;
    this.#slowestMs = Math.max(this.#slowestMs, Math.max(0, ms));
  }

  /** The quiet period a check uses now, and why. */
  quietPeriod(): Period {
    if (this.options.quietPeriodMs !== undefined) return { kind: 'quiet', ms: this.options.quietPeriodMs, basis: 'set with --quiet-period' };
    const slowest = Math.round(this.#slowestMs);
    const derived = QUIET_FACTOR * slowest;
    const ms = Math.min(QUIET_CEILING_MS, Math.max(QUIET_FLOOR_MS, derived));
    const seen = this.#samples === 0 ? 'no poke measured yet' : `the slowest of ${this.#samples} poke(s) so far took ${slowest} ms`;
    const rule = derived > QUIET_CEILING_MS ? `capped at ${QUIET_CEILING_MS} ms` : derived < QUIET_FLOOR_MS ? `the floor of ${QUIET_FLOOR_MS} ms` : `${QUIET_FACTOR} × ${slowest} ms`;
    return { kind: 'quiet', ms, basis: `${rule} (${seen})` };
  }

  /** A step's timeout for a poke that must come, scaled. */
  awaitMs(stated?: number): number {
    return Math.max(1, Math.round((stated ?? DEFAULT_AWAIT_MS) * this.scale));
  }

  /** How long a retry may take, and whether the user shortened it below the default. */
  retryWindow(): Period & { shortened: boolean } {
    const given = this.options.retryWindowMs;
    const shortened = given !== undefined && given < DEFAULT_RETRY_WINDOW_MS;
    const ms = Math.max(1, Math.round((given ?? DEFAULT_RETRY_WINDOW_MS) * this.scale));
    return { kind: 'window', ms, basis: given === undefined ? 'the default retry window' : 'set with --retry-window', shortened };
  }
}
