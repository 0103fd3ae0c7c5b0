import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../errors.js';
import { specDir } from '../paths.js';

export type Level = 'MUST' | 'SHOULD';
export type Edition = 'v1' | 'draft';
export const EDITIONS: readonly Edition[] = ['v1', 'draft'];

export interface Requirement {
  id: string;
  edition: Edition;
  level: Level;
  /** The section heading the requirement stands under, e.g. "Field limits". */
  section: string;
  /** The normative statement, as written in spec/pushers.md (one paragraph). */
  text: string;
  /** 1-based line of its heading in the spec file. */
  line: number;
}

export interface SpecText {
  file: string;
  requirements: ReadonlyMap<string, Requirement>;
}

const HEADING = /^#{4} `((v1|draft)\.[a-z0-9]+(?:[.-][a-z0-9]+)*)` · (MUST|SHOULD)\s*$/;
const SECTION = /^#{2} (.+?)\s*$/;

/**
 * Reads the requirements out of spec/pushers.md. The markdown file is the
 * single source: its `#### \`id\` · LEVEL` headings are the anchors cases
 * cite, and the paragraph below each heading is the quote a failure carries.
 */
export function parseRequirements(markdown: string, file: string): SpecText {
  const lines = markdown.split(/\r?\n/);
  const requirements = new Map<string, Requirement>();
  let section = '';
  let current: Requirement | undefined;
  const body: string[] = [];
  const finish = (): void => {
    if (!current) return;
    current.text = body.join(' ').replace(/\s+/g, ' ').trim();
    if (current.text === '') throw new SpecError(`${file}:${current.line}: requirement ${current.id} has no statement`);
    current = undefined;
    body.length = 0;
  };
  lines.forEach((line, i) => {
    const heading = HEADING.exec(line);
    if (heading) {
      finish();
      const id = heading[1] as string;
      if (requirements.has(id)) throw new SpecError(`${file}:${i + 1}: requirement ${id} is defined twice`);
      current = { id, edition: heading[2] as Edition, level: heading[3] as Level, section, text: '', line: i + 1 };
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
    if (current) {
      if (line.trim() === '' && body.length > 0) finish();
      else if (line.trim() !== '') body.push(line.trim());
    }
  });
  finish();
  return { file, requirements };
}

let cached: SpecText | undefined;

export function loadSpec(): SpecText {
  if (!cached) {
    const file = join(specDir, 'pushers.md');
    cached = parseRequirements(readFileSync(file, 'utf8'), file);
  }
  return cached;
}
