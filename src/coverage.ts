import type { Suite } from './cases/types.js';
import type { Level, SpecText } from './spec/requirements.js';

export interface CoverageRow {
  requirement: string;
  edition: string;
  level: Level;
  cases: string[];
}

/** Requirement → the cases whose expectations check it, in spec order. */
export function coverage(spec: SpecText, suite: Suite): CoverageRow[] {
  const byReq = new Map<string, Set<string>>();
  for (const c of suite.cases) for (const s of c.steps) for (const e of s.expect) {
    let set = byReq.get(e.requirement);
    if (!set) byReq.set(e.requirement, (set = new Set()));
    set.add(c.id);
  }
  return [...spec.requirements.values()].map((r) => ({ requirement: r.id, edition: r.edition, level: r.level, cases: [...(byReq.get(r.id) ?? [])].sort() }));
}

export function formatCoverage(rows: readonly CoverageRow[]): string {
  const lines = ['| requirement | level | cases |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.requirement} | ${r.level} | ${r.cases.length ? r.cases.join(', ') : '**none**'} |`);
  const uncovered = rows.filter((r) => r.cases.length === 0);
  lines.push('', `${rows.length} requirements, ${rows.length - uncovered.length} covered; uncovered MUST: ${uncovered.filter((r) => r.level === 'MUST').length}, uncovered SHOULD: ${uncovered.filter((r) => r.level === 'SHOULD').length}`);
  return lines.join('\n') + '\n';
}
