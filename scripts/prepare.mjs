#!/usr/bin/env node
/**
 * npm's `prepare`: builds dist/ unless it was built from exactly these sources.
 *
 * npm runs `prepare` after `npm install` in a clone, and again on the first
 * `npx conformance` in that clone: npx installs the project into its own cache
 * to link the bin, and that install prepares it. A full build takes about 10 s
 * on a 2-core machine, so the quick start's first run took 10 s where the run
 * itself takes one. Each build ends by leaving a fingerprint of every file it
 * was made from (`--stamp`, in dist/.built-from); when it still matches, there
 * is nothing to prepare. `npm test` and `npm run build` always build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(root, 'dist', '.built-from');
/** What the build reads: the compiler's inputs and settings, and the data the kept suite is made from. */
const INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'reference-server', 'test', 'bench', 'cases', 'spec'];

function files(path) {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  return readdirSync(full, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath ?? e.path, e.name)));
}

function fingerprint() {
  const hash = createHash('sha256');
  const list = INPUTS.flatMap((input) => (input.includes('.') ? [input] : files(input))).sort();
  for (const file of list) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

if (process.argv.includes('--stamp')) {
  writeFileSync(STAMP, `${fingerprint()}\n`);
  process.exit(0);
}
const built = existsSync(STAMP) && existsSync(join(root, 'dist', 'src', 'cli.js')) ? readFileSync(STAMP, 'utf8').trim() : undefined;
if (built === fingerprint()) {
  process.stdout.write('dist/ was built from these sources: nothing to prepare\n');
  process.exit(0);
}
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const build = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(build.status ?? 1);
