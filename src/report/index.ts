/**
 * The registry of reporters: one module each, each built from the result
 * data alone. A new format is a new file and one line here.
 */
import { htmlReporter } from './html.js';
import { jsonReporter } from './json.js';
import { junitReporter } from './junit.js';
import { tapReporter } from './tap.js';
import { terminalReporter } from './terminal.js';
import type { ReporterDef } from './types.js';

export const REPORTERS: readonly ReporterDef[] = [terminalReporter, jsonReporter, junitReporter, tapReporter, htmlReporter];

export function reporter(name: string): ReporterDef | undefined {
  return REPORTERS.find((r) => r.name === name);
}

/** Renders a finished report in one format (for callers that do not follow the run live). */
export function render(report: { meta: { strict: boolean } } & Parameters<ReturnType<ReporterDef['create']>['finish']>[0], name: string): string {
  const def = reporter(name);
  if (!def) throw new Error(`no reporter ${name}`);
  return def.create({ strict: report.meta.strict, color: false }).finish(report);
}
