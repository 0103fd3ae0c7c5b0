import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageInfo } from './paths.js';

let cached: string[] | undefined;

/**
 * The versions the server advertises by default: the last r0 and every
 * version of the v1 edition in spec/editions.yaml, the data the suite and
 * this server share.
 */
export function defaultVersions(): string[] {
  if (!cached) {
    const editions = parse(readFileSync(join(packageInfo().root, 'spec', 'editions.yaml'), 'utf8')) as { v1?: { versions?: unknown } };
    const v1 = Array.isArray(editions.v1?.versions) ? editions.v1.versions.filter((v): v is string => typeof v === 'string') : [];
    cached = ['r0.6.1', ...v1];
  }
  return cached;
}
