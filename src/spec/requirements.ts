import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../errors.js';
import { specDir } from '../paths.js';
import { loadAreas, type Areas } from './areas.js';
import { loadEditions, versionIndex, type EditionInfo, type Editions } from './editions.js';

export type Level = 'MUST' | 'SHOULD';
/** An edition id of spec/editions.yaml ("v1", "draft"): data, not a fixed list. */
export type Edition = string;

/** The editions the suite knows, in the order of spec/editions.yaml. */
export function editionIds(): Edition[] {
  return [...loadEditions().keys()];
}

/**
 * What a requirement rests on:
 * - server-rule: the spec states the server's behaviour (MUST/should, or the endpoint's contract);
 * - request-constraint: the request breaks a constraint the spec puts on it (a Required field, a type, a length);
 * - reading: the spec is silent or open, and the requirement is our reading of it (every allowed reading passes).
 */
export type Ground = 'server-rule' | 'request-constraint' | 'reading';
export const GROUNDS: readonly Ground[] = ['server-rule', 'request-constraint', 'reading'];

export interface Requirement {
  id: string;
  edition: Edition;
  /** The area whose requirements file defines it (spec/areas.yaml). */
  area: string;
  level: Level;
  /** The first version of the edition's spec in which the requirement holds. */
  since: string;
  /** The first version in which it no longer holds, if a later version changed it. */
  until?: string;
  ground: Ground;
  /** The section of the spec the requirement rests on: its title and its path below the edition's docs. */
  source: { title: string; path: string };
  /** The section heading the requirement stands under in spec/pushers.md, e.g. "Field limits". */
  section: string;
  /** The statement, in this project's words (one paragraph); the link is what a reader checks it against. */
  text: string;
  /** 1-based line of its heading in the spec file. */
  line: number;
}

export interface SpecText {
  /** The requirements files read, one per area. */
  files: string[];
  editions: Editions;
  areas: Areas;
  requirements: ReadonlyMap<string, Requirement>;
}

const HEADING = /^#{4} `(([a-z][a-z0-9]*)\.[a-z0-9]+(?:[.-][a-z0-9]+)*)` · (MUST|SHOULD)\s*$/;
const SECTION = /^#{2} (.+?)\s*$/;
/** `since v1.6 · until v1.13 · server-rule · [POST /pushers/set](client-server-api/#post_matrixclientv3pushersset)` */
const META = /^since (\S+)(?: · until (\S+))? · (server-rule|request-constraint|reading) · \[([^\]]+)\]\(([^)\s]+)\)\s*$/;

/**
 * Reads the requirements out of spec/pushers.md. The markdown file is the
 * single source: each `#### \`id\` · LEVEL` heading is followed by one line
 * of data (versions, ground, source section) and the statement.
 */
export function parseRequirements(markdown: string, file: string, editions: Editions = loadEditions(), area = 'pushers', requirements = new Map<string, Requirement>()): Map<string, Requirement> {
  const lines = markdown.split(/\r?\n/);
  let section = '';
  let current: Requirement | undefined;
  let needMeta = false;
  const body: string[] = [];
  const finish = (): void => {
    if (!current) return;
    if (needMeta) throw new SpecError(`${file}:${current.line}: requirement ${current.id} needs a line "since VERSION [· until VERSION] · GROUND · [section](path)" below its heading`);
    current.text = body.join(' ').replace(/\s+/g, ' ').trim();
    if (current.text === '') throw new SpecError(`${file}:${current.line}: requirement ${current.id} has no statement`);
    current = undefined;
    body.length = 0;
  };
  let fenced = false;
  lines.forEach((line, i) => {
    // Examples in fenced blocks are text, not requirements.
    if (line.startsWith('```')) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const heading = HEADING.exec(line);
    if (heading) {
      finish();
      const id = heading[1] as string;
      if (requirements.has(id)) throw new SpecError(`${file}:${i + 1}: requirement ${id} is defined twice`);
      if (!editions.has(heading[2] as string)) throw new SpecError(`${file}:${i + 1}: requirement ${id}: ${heading[2] as string} is not an edition of spec/editions.yaml`);
      current = { id, edition: heading[2] as Edition, area, level: heading[3] as Level, since: '', ground: 'reading', source: { title: '', path: '' }, section, text: '', line: i + 1 };
      needMeta = true;
      requirements.set(id, current);
      return;
    }
    if (line.startsWith('#')) {
      finish();
      if (line.startsWith('#### ')) throw new SpecError(`${file}:${i + 1}: a level-4 heading must be \`id\` · MUST|SHOULD, got: ${line}`);
      const s = SECTION.exec(line);
      if (s) section = s[1] as string;
      return;
    }
    if (!current) return;
    if (needMeta) {
      if (line.trim() === '') return;
      const m = META.exec(line.trim());
      if (!m) throw new SpecError(`${file}:${i + 1}: requirement ${current.id}: expected "since VERSION [· until VERSION] · GROUND · [section](path)", got: ${line.trim()}`);
      const edition = editions.get(current.edition);
      if (!edition) throw new SpecError(`${file}:${i + 1}: edition ${current.edition} is not in spec/editions.yaml`);
      const [, since, until, ground, title, path] = m as unknown as [string, string, string | undefined, Ground, string, string];
      for (const v of [since, until]) if (v !== undefined && versionIndex(edition, v) < 0) throw new SpecError(`${file}:${i + 1}: ${v} is not a version of edition ${edition.id} (spec/editions.yaml lists ${edition.versions.join(', ')})`);
      if (until !== undefined && versionIndex(edition, until) <= versionIndex(edition, since)) throw new SpecError(`${file}:${i + 1}: until ${until} is not after since ${since}`);
      current.since = since;
      if (until !== undefined) current.until = until;
      current.ground = ground;
      current.source = { title, path };
      needMeta = false;
      return;
    }
    if (line.trim() === '' && body.length > 0) finish();
    else if (line.trim() !== '') body.push(line.trim());
  });
  finish();
  return requirements;
}

/** Whether the requirement holds in `version` of its edition. */
export function inForce(r: Requirement, version: string, editions: Editions): boolean {
  const e = editions.get(r.edition) as EditionInfo;
  const at = versionIndex(e, version);
  if (at < 0) return false;
  return at >= versionIndex(e, r.since) && (r.until === undefined || at < versionIndex(e, r.until));
}

/**
 * The link a reader follows to check the requirement, in the version judged
 * (or, outside its range, the nearest version in which it holds).
 */
export function linkFor(r: Requirement, version: string | undefined, editions: Editions): string {
  const e = editions.get(r.edition) as EditionInfo;
  let v = version !== undefined && inForce(r, version, editions) ? version : undefined;
  if (v === undefined) {
    const last = r.until === undefined ? e.versions.length - 1 : versionIndex(e, r.until) - 1;
    v = e.versions[last] as string;
  }
  return e.docs.replace('{version}', v) + r.source.path;
}

/** The versions in which the requirement holds, as a reader says it: "v1.6+" or "v1.1–v1.12". */
export function versionRange(r: Requirement, editions: Editions): string {
  const e = editions.get(r.edition) as EditionInfo;
  if (e.versions.length === 1) return r.since;
  if (r.until === undefined) return `${r.since}+`;
  return `${r.since}–${e.versions[versionIndex(e, r.until) - 1] as string}`;
}

/** Every area's requirements, read from the files spec/areas.yaml names; an id is defined once in all of them. */
export function readSpec(editions: Editions = loadEditions(), areas: Areas = loadAreas(), dir = specDir): SpecText {
  const requirements = new Map<string, Requirement>();
  const files: string[] = [];
  for (const a of areas.values()) {
    const file = join(dir, a.requirements);
    files.push(file);
    parseRequirements(readFileSync(file, 'utf8'), file, editions, a.id, requirements);
  }
  return { files, editions, areas, requirements };
}

let cached: SpecText | undefined;

export function loadSpec(): SpecText {
  if (!cached) cached = readSpec();
  return cached;
}
