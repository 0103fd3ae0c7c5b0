/**
 * The suite as the runner reads it: the case loader given the runner's own
 * step and expectation kinds.
 */
import { keepSuite, keptSuite } from '../cases/kept.js';
import { readSuite, type LoadOptions } from '../cases/load.js';
import type { Suite } from '../cases/types.js';
import { expectKinds } from './expect/index.js';
import { stepKinds } from './steps/index.js';

export type SuiteOptions = Omit<LoadOptions, 'kinds'>;

const KINDS = { steps: stepKinds, expects: expectKinds };

/**
 * Loads and validates every case file of the suite (see readSuite). The
 * bundled suite, unchanged since the build kept it, is taken as kept
 * (cases/kept.ts).
 */
export function loadSuite(options: SuiteOptions = {}): Suite {
  const bundled = options.dir === undefined && options.editions === undefined && options.spec === undefined;
  return (bundled ? keptSuite(KINDS) : undefined) ?? readSuite({ ...options, kinds: KINDS });
}

/** Loads the bundled suite from its files and keeps it for later runs; returns where. */
export function keepBundledSuite(): string {
  return keepSuite(readSuite({ kinds: KINDS }), KINDS);
}
