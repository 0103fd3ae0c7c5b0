/**
 * `npm run build` runs this after tsc: it keeps the runner's schema validators
 * as code (schemas.ts), then loads the bundled suite from its files and keeps
 * it, so that runs start without compiling or parsing them (cases/kept.ts).
 * It keeps it with the kinds a run uses by default (src/kinds.ts), whose
 * fingerprint a run then finds unchanged. A suite that does not load is not
 * kept and the build goes on: a run then loads the files itself and reports
 * every problem, as it always did.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { allKinds } from './kinds.js';
import { keepBundledSuite } from './run/suite.js';
import { keepSchemas } from './schemas.js';
import { AREAS_YAML_OPTIONS } from './spec/areas.js';
import { keepYamlParses } from './yaml.js';
import { specDir } from './paths.js';
import { join } from 'node:path';

try {
  process.stdout.write(`kept the parses of spec/*.yaml in ${keepYamlParses([{ file: join(specDir, 'editions.yaml') }, { file: join(specDir, 'areas.yaml'), options: AREAS_YAML_OPTIONS }])}\n`);
} catch (err) {
  process.stdout.write(`the parses of spec/*.yaml were not kept (a run will parse them): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
}
try {
  process.stdout.write(`kept the schema validators in ${keepSchemas().join(', ')}\n`);
} catch (err) {
  // Not fatal: a run then compiles the schemas itself, and a broken schema says so there.
  process.stdout.write(`the schema validators were not kept (a run will compile them): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
}
try {
  const file = keepBundledSuite(allKinds);
  process.stdout.write(`kept the bundled suite in ${file}\n`);
} catch (err) {
  rmSync(fileURLToPath(new URL('./cases/suite.json', import.meta.url)), { force: true });
  process.stdout.write(`the bundled suite was not kept (a run will load the case files and say why): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
}
