import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  /** The directory holding package.json and spec/. */
  root: string;
  name: string;
  version: string;
}

let cached: PackageInfo | undefined;

/**
 * The package this server ships in. The code runs from dist/reference-server/
 * (or from an installed copy), so spec/ is found by walking up to the directory
 * that holds both package.json and spec/schemas rather than by a fixed relative path.
 */
export function packageInfo(): PackageInfo {
  if (cached !== undefined) return cached;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'spec', 'schemas'))) {
      const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
      const field = (key: string): string | undefined => {
        if (typeof parsed !== 'object' || parsed === null) return undefined;
        const value: unknown = (parsed as Record<string, unknown>)[key];
        return typeof value === 'string' ? value : undefined;
      };
      cached = { root: dir, name: field('name') ?? 'matrix-pushers-conformance', version: field('version') ?? '0.0.0' };
      return cached;
    }
    if (dirname(dir) === dir) throw new Error(`reference server: no package.json with spec/schemas above ${start}`);
  }
}
