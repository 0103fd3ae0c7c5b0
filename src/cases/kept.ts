/**
 * The bundled suite, loaded and validated once when the package is built and
 * kept as JSON beside the compiled loader (dist/src/cases/suite.json), with a
 * fingerprint of everything loading read and ran: the case files, spec/, the
 * loader's own code and every step and expectation kind (schemas and checks).
 * A run whose fingerprint matches takes the kept suite, a few milliseconds,
 * instead of parsing and validating every YAML file again, which is most of
 * the CLI's start-up; any change loads the files afresh, exactly as before.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeKeptFile } from '../kept-file.js';
import { casesDir, packageRoot, specDir } from '../paths.js';
import type { CaseKinds, Suite } from './types.js';

const KEPT = fileURLToPath(new URL('./suite.json', import.meta.url));
/** The loader's modules: a change to how files are read changes what is kept. */
const LOADER = ['./load.js', './types.js', './values.js', './kept.js', '../schemas.js', '../spec/requirements.js', '../spec/editions.js', '../spec/areas.js', '../yaml.js'].map((m) => fileURLToPath(new URL(m, import.meta.url)));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)])).sort();
}

/** A hash of every input of loading the bundled suite with these kinds. */
export function suiteFingerprint(kinds: CaseKinds): string {
  const hash = createHash('sha256');
  const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown };
  hash.update(`version ${String(version)}\n`);
  for (const file of [...files(casesDir), ...files(specDir), ...LOADER]) {
    hash.update(`${relative(packageRoot, file)}\n`);
    hash.update(readFileSync(file));
  }
  // Kinds carry functions (their checks): their source text stands for them.
  const code = (_key: string, value: unknown): unknown => (typeof value === 'function' ? String(value) : value);
  hash.update(JSON.stringify([kinds.steps.all, kinds.expects.all], code));
  return hash.digest('hex');
}

/** The kept suite, when it was made from exactly what is here now. */
export function keptSuite(kinds: CaseKinds): Suite | undefined {
  let kept: { fingerprint?: unknown; suite?: Suite };
  try {
    kept = JSON.parse(readFileSync(KEPT, 'utf8')) as typeof kept;
  } catch {
    return undefined;
  }
  return kept.fingerprint === suiteFingerprint(kinds) ? kept.suite : undefined;
}

/** Keeps a suite loaded from the bundled files. */
export function keepSuite(suite: Suite, kinds: CaseKinds): string {
  return writeKeptFile(KEPT, JSON.stringify({ fingerprint: suiteFingerprint(kinds), suite }));
}
