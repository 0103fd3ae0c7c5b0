import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../errors.js';
import { specDir } from '../paths.js';
import { parseYaml } from '../yaml.js';

/** One area of the suite, read from spec/areas.yaml: nothing about it is written in code. */
export interface AreaInfo {
  id: string;
  /** How reports name it: "the pushers API". */
  title: string;
  /** Its requirements file, relative to spec/. */
  requirements: string;
}

export type Areas = ReadonlyMap<string, AreaInfo>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How spec/areas.yaml is parsed (the build keeps its parse with these options). */
export const AREAS_YAML_OPTIONS = { maxAliasCount: 10 };

export function parseAreas(text: string, file: string): Areas {
  const data = parseYaml(text, AREAS_YAML_OPTIONS);
  if (!isObject(data)) throw new SpecError(`${file}: a mapping of area id to its description`);
  const out = new Map<string, AreaInfo>();
  for (const [id, raw] of Object.entries(data)) {
    const bad = (why: string): never => {
      throw new SpecError(`${file}: area ${id}: ${why}`);
    };
    if (!/^[a-z][a-z0-9-]*$/.test(id)) bad('the id is lower-case letters, digits and hyphens');
    if (!isObject(raw)) return bad('a mapping');
    const { title, requirements } = raw;
    if (typeof title !== 'string' || title === '') bad('needs a title');
    if (typeof requirements !== 'string' || !/^[a-z0-9-]+\.md$/.test(requirements)) bad('needs requirements: a .md file under spec/');
    out.set(id, { id, title: title as string, requirements: requirements as string });
  }
  if (out.size === 0) throw new SpecError(`${file}: no area`);
  return out;
}

let cached: Areas | undefined;

export function loadAreas(): Areas {
  if (!cached) {
    const file = join(specDir, 'areas.yaml');
    cached = parseAreas(readFileSync(file, 'utf8'), file);
  }
  return cached;
}
