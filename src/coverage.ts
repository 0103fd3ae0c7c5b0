import type { Suite } from './cases/types.js';
import { linkFor, versionRange, type Ground, type Level, type SpecText } from './spec/requirements.js';

export interface CoverageRow {
  requirement: string;
  edition: string;
  level: Level;
  ground: Ground;
  /** The versions in which it holds ("v1.6+"). */
  versions: string;
  /** The section of the spec it rests on, in the newest version in which it holds. */
  link: string;
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
  return [...spec.requirements.values()].map((r) => ({ requirement: r.id, edition: r.edition, level: r.level, ground: r.ground, versions: versionRange(r, spec.editions), link: linkFor(r, undefined, spec.editions), cases: [...(byReq.get(r.id) ?? [])].sort() }));
}

export function formatCoverage(rows: readonly CoverageRow[]): string {
  const lines = ['| requirement | level | versions | ground | spec | cases |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.requirement} | ${r.level} | ${r.versions} | ${r.ground} | ${r.link} | ${r.cases.length ? r.cases.join(', ') : '**none**'} |`);
  const uncovered = rows.filter((r) => r.cases.length === 0);
  lines.push('', `${rows.length} requirements, ${rows.length - uncovered.length} covered; uncovered MUST: ${uncovered.filter((r) => r.level === 'MUST').length}, uncovered SHOULD: ${uncovered.filter((r) => r.level === 'SHOULD').length}`);
  return lines.join('\n') + '\n';
}
