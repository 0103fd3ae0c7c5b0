/**
 * `npm run build` runs this after tsc: it loads the bundled suite from its
 * files and keeps it, so that runs start without parsing them (cases/kept.ts).
 * It keeps it with the kinds a run uses by default (src/kinds.ts), whose
 * fingerprint a run then finds unchanged. A suite that does not load is not
 * kept and the build goes on: a run then loads the files itself and reports
 * every problem, as it always did.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { allKinds } from './kinds.js';
import { keepBundledSuite } from './run/suite.js';

try {
  const file = keepBundledSuite(allKinds);
  process.stdout.write(`kept the bundled suite in ${file}\n`);
} catch (err) {
  rmSync(fileURLToPath(new URL('./cases/suite.json', import.meta.url)), { force: true });
  process.stdout.write(`the bundled suite was not kept (a run will load the case files and say why): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
}
