import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

let info: { name: string; version: string } | undefined;

export function suiteInfo(): { name: string; version: string } {
  if (!info) {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { name: string; version: string };
    info = { name: pkg.name, version: pkg.version };
  }
  return info;
}
