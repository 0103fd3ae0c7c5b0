/**
 * npm's prepare step (scripts/prepare.mjs): the fingerprint the build leaves
 * is the one prepare computes, so the first `npx conformance` in a clone,
 * which prepares the project again, finds nothing to build; a changed
 * source makes it build.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'prepare.mjs');

describe('prepare', function () {
  this.timeout(30_000);

  it('finds nothing to build right after a build (npm test has just built)', function () {
    const out = execFileSync(process.execPath, [SCRIPT], { cwd: ROOT, encoding: 'utf8' });
    expect(out).to.include('nothing to prepare');
  });

  it('builds again when a file the build reads has changed, and not before', function () {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-prepare-'));
    const prepare = (...args: string[]): string => execFileSync(process.execPath, [join(dir, 'scripts', 'prepare.mjs'), ...args], { cwd: dir, encoding: 'utf8' });
    try {
      for (const part of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'reference-server', 'test', 'bench', 'cases', 'spec', 'scripts']) {
        cpSync(join(ROOT, part), join(dir, part), { recursive: true });
      }
      // The copy's build only says that it ran; dist/ holds just what prepare looks for.
      writeFileSync(join(dir, 'package.json'), readFileSync(join(dir, 'package.json'), 'utf8').replace(/"build": "[^"]*"/, '"build": "echo BUILT"'));
      mkdirSync(join(dir, 'dist', 'src'), { recursive: true });
      writeFileSync(join(dir, 'dist', 'src', 'cli.js'), '');
      prepare('--stamp');
      expect(prepare()).to.include('nothing to prepare');
      appendFileSync(join(dir, 'src', 'text.ts'), '\n// changed\n');
      const out = prepare();
      expect(out).to.include('BUILT');
      expect(out).not.to.include('nothing to prepare');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
