import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageInfo } from './paths.js';

let cached: string[] | undefined;

/**
 * The versions the server advertises by default: the last r0 and every
 * version of the v1 edition in spec/editions.yaml, the data the suite and
 * this server share.
 */
export function defaultVersions(): string[] {
  if (!cached) {
    // yaml is loaded only here: the CLI tells the server its versions, and the parser costs about 25 ms to load.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    const editions = parse(readFileSync(join(packageInfo().root, 'spec', 'editions.yaml'), 'utf8')) as { v1?: { versions?: unknown } };
    const v1 = Array.isArray(editions.v1?.versions) ? editions.v1.versions.filter((v): v is string => typeof v === 'string') : [];
    cached = ['r0.6.1', ...v1];
  }
  return cached;
}
