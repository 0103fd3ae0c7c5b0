import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Writes a throw-away cases folder: { 'v1/pushers/x.yaml': '...' } → its path. */
export function tmpCases(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-cases-'));
  for (const [name, text] of Object.entries(files)) {
    const file = join(dir, name);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}

export const VALID_CASE = `id: v1.test.ok
title: A case that is fine
edition: v1
requirements: [v1.set.success]
users: [alice]
steps:
  - title: set
    request:
      method: POST
      path: /_matrix/client/v3/pushers/set
      json: {kind: http}
    expect:
      - requirement: v1.set.success
        status: 200
`;
