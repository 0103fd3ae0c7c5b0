import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../errors.js';
import { specDir } from '../paths.js';
import { parseYaml } from '../yaml.js';

/** A probe request: unauthenticated, to an endpoint of the edition. */
export interface ProbeRequest {
  method: string;
  path: string;
  json?: unknown;
}

/** One edition of the API, read from spec/editions.yaml: nothing about it is written in code. */
export interface EditionInfo {
  id: string;
  title: string;
  prefix: string;
  /** Matches a versions entry of a target that serves the edition; absent: no target advertises it. */
  advertised?: RegExp;
  /** Versions of the edition's specification the suite models, oldest first. */
  versions: string[];
  /** Base of the documents, with {version}; an http(s) URL or a path in the package. */
  docs: string;
  probe: ProbeRequest;
}

export type Editions = ReadonlyMap<string, EditionInfo>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseEditions(text: string, file: string): Editions {
  const data = parseYaml(text);
  if (!isObject(data)) throw new SpecError(`${file}: a mapping of edition id to its description`);
  const out = new Map<string, EditionInfo>();
  for (const [id, raw] of Object.entries(data)) {
    const bad = (why: string): never => {
      throw new SpecError(`${file}: edition ${id}: ${why}`);
    };
    if (!/^[a-z][a-z0-9]*$/.test(id)) bad('the id is lower-case letters and digits');
    if (!isObject(raw)) return bad('a mapping');
    const { title, prefix, advertised, versions, docs, probe } = raw;
    if (typeof title !== 'string' || typeof prefix !== 'string' || !prefix.startsWith('/_matrix/')) bad('needs a title and a prefix under /_matrix/');
    if (!Array.isArray(versions) || versions.length === 0 || !versions.every((v) => typeof v === 'string')) bad('needs a list of versions');
    if (typeof docs !== 'string') bad('needs docs');
    if (!isObject(probe) || typeof probe['method'] !== 'string' || typeof probe['path'] !== 'string') bad('needs a probe {method, path}');
    if (advertised !== undefined && typeof advertised !== 'string') bad('advertised is a pattern');
    out.set(id, {
      id,
      title: title as string,
      prefix: prefix as string,
      ...(typeof advertised === 'string' ? { advertised: new RegExp(advertised) } : {}),
      versions: versions as string[],
      docs: docs as string,
      probe: probe as unknown as ProbeRequest,
    });
  }
  return out;
}

let cached: Editions | undefined;

export function loadEditions(): Editions {
  if (!cached) {
    const file = join(specDir, 'editions.yaml');
    cached = parseEditions(readFileSync(file, 'utf8'), file);
  }
  return cached;
}

/** The index of a version in the edition's list, or -1. */
export function versionIndex(e: EditionInfo, version: string): number {
  return e.versions.indexOf(version);
}

/** v1.N → N, for ordering versions the suite does not know. */
function minor(v: string): number | undefined {
  const m = /^v1\.(\d+)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

export interface VersionChoice {
  /** The version whose rules are applied. */
  version: string;
  /** Where the choice came from. */
  from: 'advertised' | 'flag' | 'default';
  /** What the target advertised (or the flag said), when it differs from `version`. */
  asked?: string;
  /** A sentence for the report when the suite judged by another version than the one asked. */
  note?: string;
}

/**
 * The version to judge by: the newest the target advertises (or the one given
 * with --spec-version). A version newer than any the suite models is judged by
 * the newest one below it, and the note says so.
 */
export function chooseVersion(e: EditionInfo, advertised: readonly string[], flag?: string): VersionChoice {
  const newest = e.versions[e.versions.length - 1] as string;
  if (e.versions.length === 1) return { version: newest, from: 'default' };
  const pick = (asked: string, from: 'advertised' | 'flag'): VersionChoice => {
    if (e.versions.includes(asked)) return { version: asked, from };
    const n = minor(asked);
    const below = n === undefined ? [] : e.versions.filter((v) => (minor(v) ?? -1) <= n);
    const version = below[below.length - 1] ?? (e.versions[0] as string);
    return { version, from, asked, note: `${asked} is not a version this suite models; judged by ${version}, the newest it models below it` };
  };
  if (flag !== undefined) return pick(flag, 'flag');
  const matching = advertised.filter((v) => e.advertised?.test(v));
  if (matching.length === 0) return { version: newest, from: 'default' };
  const newestAdvertised = [...matching].sort((a, b) => (minor(a) ?? -1) - (minor(b) ?? -1))[matching.length - 1] as string;
  return pick(newestAdvertised, 'advertised');
}
