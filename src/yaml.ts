/**
 * The yaml package, loaded at its first use: a run of the bundled suite reads
 * no YAML (its cases are kept as JSON, cases/kept.ts), and loading the parser
 * costs about 25 ms of every start. The spec's own YAML files (editions,
 * areas) are read at every run; the build keeps what they parse to as JSON,
 * keyed by a hash of their text, the options and the parser's version, so a
 * run parses them only when they have changed since the build.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { writeKeptFile } from './kept-file.js';

const require = createRequire(import.meta.url);
const KEPT = fileURLToPath(new URL('./yaml.kept.json', import.meta.url));

export type Yaml = typeof import('yaml');

/** The yaml package (one instance for the process, as import would give). */
export function yaml(): Yaml {
  return require('yaml') as Yaml;
}

/** What the spec's files are parsed with (yaml's parse options, of which these are used). */
export interface ParseOptions {
  maxAliasCount?: number;
}

function key(text: string, options: ParseOptions | undefined): string {
  const { version } = require('yaml/package.json') as { version: string };
  return createHash('sha256').update(`yaml ${version}\n${JSON.stringify(options ?? {})}\n${text}`).digest('hex');
}

let kept: Record<string, unknown> | undefined;

/** yaml's parse(text, options), taken from the build's kept parses when this exact text was kept. */
export function parseYaml(text: string, options?: ParseOptions): unknown {
  if (kept === undefined) {
    try {
      kept = JSON.parse(readFileSync(KEPT, 'utf8')) as Record<string, unknown>;
    } catch {
      kept = {};
    }
  }
  const k = key(text, options);
  return Object.hasOwn(kept, k) ? structuredClone(kept[k]) : yaml().parse(text, options ?? {});
}

/**
 * Keeps the parses of these files' texts (the build runs this). A text whose
 * value JSON cannot carry exactly (a date, .inf) is not kept: a run parses it.
 */
export function keepYamlParses(files: ReadonlyArray<{ file: string; options?: ParseOptions }>): string {
  rmSync(KEPT, { force: true });
  const out: Record<string, unknown> = {};
  for (const { file, options } of files) {
    const text = readFileSync(file, 'utf8');
    const value = yaml().parse(text, options ?? {}) as unknown;
    if (isDeepStrictEqual(JSON.parse(JSON.stringify(value ?? null)), value)) out[key(text, options)] = value;
  }
  return writeKeptFile(KEPT, JSON.stringify(out));
}
