/**
 * The time scale of the project's tests for push delivery. The runner's
 * timeouts and windows (15 s for a poke, 65 s for a retry) are taken times
 * TEST_TIME_SCALE (see src/areas/delivery/gateway/timing.ts), and the test servers that
 * deliver late take their delays from the same scale, or from the runner's
 * shortest quiet period, so every verdict is what it would be at full length.
 */
import { QUIET_FLOOR_MS } from '../../src/areas/delivery/gateway/timing.js';

export const TEST_TIME_SCALE = 0.4;

/** A delay of a test server, `ms` in a real run, on the tests' time scale. */
export const scaled = (ms: number): number => Math.round(ms * TEST_TIME_SCALE);

/**
 * How late a test server sends what a check that nothing arrives must still
 * see: half the shortest quiet period a run states, so it falls within
 * whatever period the run derives.
 */
export const WITHIN_QUIET_MS = Math.floor(QUIET_FLOOR_MS / 2);
