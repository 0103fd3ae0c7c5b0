/**
 * Writing what the build keeps for runs (the suite, the schema validators,
 * the parses of the spec's YAML): whole, into a temporary file beside it and
 * then renamed into place, so that a run starting meanwhile reads the old
 * file or the new one, never half of one.
 */
import { renameSync, writeFileSync } from 'node:fs';

export function writeKeptFile(path: string, text: string): string {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
  return path;
}
