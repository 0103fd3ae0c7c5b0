/**
 * `npm run build` runs this after tsc: it keeps the parses of the spec's YAML
 * files and the runner's schema validators as code (yaml.ts, schemas.ts), then
 * loads the bundled suite from its files and keeps it, so that runs start
 * without parsing or compiling them (cases/kept.ts). It keeps the suite with
 * the kinds a run uses by default (src/kinds.ts), whose fingerprint a run then
 * finds unchanged. Nothing here is fatal: what is not kept, a run reads and
 * compiles itself, and reports every problem there, as it always did.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allKinds } from './kinds.js';
import { specDir } from './paths.js';
import { keepBundledSuite } from './run/suite.js';
import { keepSchemas } from './schemas.js';
import { AREAS_YAML_OPTIONS } from './spec/areas.js';
import { keepYamlParses } from './yaml.js';

/** Keeps one thing and says where; on failure says what a run does instead, after `undo`. */
function keep(what: string, instead: string, write: () => string, undo = (): void => undefined): void {
  try {
    process.stdout.write(`kept ${what} in ${write()}\n`);
  } catch (err) {
    undo();
    process.stdout.write(`could not keep ${what} (${instead}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  }
}

keep('the parses of spec/*.yaml', 'a run will parse them', () => keepYamlParses([{ file: join(specDir, 'editions.yaml') }, { file: join(specDir, 'areas.yaml'), options: AREAS_YAML_OPTIONS }]));
keep('the schema validators', 'a run will compile them', () => keepSchemas().join(', '));
keep('the bundled suite', 'a run will load the case files and say why', () => keepBundledSuite(allKinds), () => rmSync(fileURLToPath(new URL('./cases/suite.json', import.meta.url)), { force: true }));
