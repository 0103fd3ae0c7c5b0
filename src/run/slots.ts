/**
 * The run's job slots (--jobs): a case holds one while it sends requests and
 * gives it up while a step only waits for the target (a poke, a quiet period,
 * a retry window), so that long waits do not keep other cases from running.
 * A case back from a wait goes on at once, its slot counted again: for a
 * moment more cases than slots may be sending, and no new case starts until
 * enough have ended. (Making it wait for a slot could deadlock: the cases
 * holding the slots may be waiting for the users it holds.)
 */
export class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(count: number) {
    this.#free = Math.max(1, count);
  }

  /** A slot for a new case, in the order asked. */
  take(): Promise<void> {
    if (this.#free > 0 && this.#waiting.length === 0) {
      this.#free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** A case back from a wait: counted at once. */
  retake(): void {
    this.#free -= 1;
  }

  release(): void {
    this.#free += 1;
    while (this.#free > 0 && this.#waiting.length > 0) {
      this.#free -= 1;
      (this.#waiting.shift() as () => void)();
    }
  }
}
