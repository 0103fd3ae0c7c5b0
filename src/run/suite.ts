/**
 * The suite as a run reads it: the bundled one as the build kept it, while
 * nothing it was made from changed, else the case files loaded afresh; with
 * the kinds the caller gives (the composed ones: src/kinds.ts).
 */
import { keepSuite, keptSuite } from '../cases/kept.js';
import { readSuite, type LoadOptions } from '../cases/load.js';
import type { CaseKinds, Suite } from '../cases/types.js';

export type SuiteOptions = Omit<LoadOptions, 'kinds'>;

/**
 * Loads and validates every case file of the suite (see readSuite). The
 * bundled suite, unchanged since the build kept it with the same kinds, is
 * taken as kept (cases/kept.ts).
 */
export function loadSuite(options: LoadOptions): Suite {
  const bundled = options.dir === undefined && options.editions === undefined && options.spec === undefined;
  return (bundled ? keptSuite(options.kinds) : undefined) ?? readSuite(options);
}

/** Loads the bundled suite from its files and keeps it for later runs with these kinds; returns where. */
export function keepBundledSuite(kinds: CaseKinds): string {
  return keepSuite(readSuite({ kinds }), kinds);
}
