/**
 * The kinds a run uses: the runner core's own (src/run/steps, src/run/expect)
 * and those the areas bring (src/areas/index.ts), composed here, above both,
 * so that the core never imports an area. The CLI, runAndReport and the
 * build's kept suite take them from here; `run` and `loadSuite` of the public
 * API use them unless the caller gives others.
 */
import { AREA_EXPECT_KINDS, AREA_STEP_KINDS } from './areas/index.js';
import type { CaseKinds, Suite } from './cases/types.js';
import { CORE_EXPECT_KINDS } from './run/expect/index.js';
import { kindRegistry, type ExpectKind, type Kinds, type OpenRegistry, type StepKind } from './run/kinds.js';
import { run as runWith, type RunOptions as RunWithOptions } from './run/runner.js';
import { CORE_STEP_KINDS } from './run/steps/index.js';
import { loadSuite as loadWith, type SuiteOptions } from './run/suite.js';
import type { RunReport } from './run/types.js';

/** Every kind of the package: the core's first, then the areas' in their order. */
export const allKinds: { steps: OpenRegistry<StepKind>; expects: OpenRegistry<ExpectKind> } = {
  steps: kindRegistry('step', [...CORE_STEP_KINDS, ...AREA_STEP_KINDS]),
  expects: kindRegistry('expectation', [...CORE_EXPECT_KINDS, ...AREA_EXPECT_KINDS]),
};

export const stepKinds = allKinds.steps;
export const expectKinds = allKinds.expects;

/** A run's options, its kinds those of the package unless given. */
export type RunOptions = Omit<RunWithOptions, 'kinds'> & { kinds?: Kinds };

/** Runs the suite (see run/runner.ts) with the package's kinds, or the caller's. */
export function run(options: RunOptions): Promise<RunReport> {
  return runWith({ ...options, kinds: options.kinds ?? allKinds });
}

/** Loads the suite (see run/suite.ts) with the package's kinds, or the caller's. */
export function loadSuite(options: SuiteOptions & { kinds?: CaseKinds } = {}): Suite {
  return loadWith({ ...options, kinds: options.kinds ?? allKinds });
}
