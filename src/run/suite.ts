/**
 * The suite as the runner reads it: the case loader given the runner's own
 * step and expectation kinds.
 */
import { readSuite, type LoadOptions } from '../cases/load.js';
import type { Suite } from '../cases/types.js';
import { expectKinds } from './expect/index.js';
import { stepKinds } from './steps/index.js';

export type SuiteOptions = Omit<LoadOptions, 'kinds'>;

/** Loads and validates every case file of the suite (see readSuite). */
export function loadSuite(options: SuiteOptions = {}): Suite {
  return readSuite({ ...options, kinds: { steps: stepKinds, expects: expectKinds } });
}
