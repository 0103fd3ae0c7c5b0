/** The public API of the runner library; the CLI is one user of it. */
export { loadSuite, type LoadOptions } from './cases/load.js';
export type { Case, Step, Expectation, Suite } from './cases/types.js';
export { run, preflight, selectCases, DEFAULT_JOBS, type RunOptions } from './run/runner.js';
export { summarize, isFailing, type CaseResult, type CheckFailure, type RunReport, type Summary, type Outcome } from './run/types.js';
export { render, REPORTERS, type ReporterName } from './report/render.js';
export { loadSpec, parseRequirements, EDITIONS, type Requirement, type Edition, type Level } from './spec/requirements.js';
export { ConformanceError, UsageError, CaseFileError, TargetError, SpecError } from './errors.js';
export { coverage, formatCoverage, type CoverageRow } from './coverage.js';
