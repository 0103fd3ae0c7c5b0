/** `conformance coverage`: every requirement with its level, versions, link and the cases that check it. */
import { coverage, formatCoverage } from '../coverage.js';
import { allKinds } from '../kinds.js';
import { loadSuite } from '../run/suite.js';
import { loadSpec } from '../spec/requirements.js';
import type { Io } from './io.js';

export function coverageCommand(values: Record<string, unknown>, io: Io): number {
  const rows = coverage(loadSpec(), loadSuite({ kinds: allKinds, ...(typeof values['cases'] === 'string' ? { dir: values['cases'] } : {}) }));
  io.out(formatCoverage(rows));
  // A MUST no case checks is a gap in the suite.
  return rows.some((r) => r.level === 'MUST' && r.cases.length === 0) ? 1 : 0;
}
