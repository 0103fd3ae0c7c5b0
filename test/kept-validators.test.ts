/**
 * The schema validators the build keeps as code (src/schemas.ts for the
 * runner, reference-server/validate.ts for the bundled server) judge exactly
 * as the same schemas compiled now, errors included, and are not taken once
 * what they were made from has changed.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { ValidateFunction } from 'ajv';
import { validatorSources as serverSources } from '../reference-server/validate.js';
import { validatorSources as runnerSources } from '../src/schemas.js';

/** Every object and array in the kept suite (request bodies, rules, expected shapes), and some values of every JSON type. */
function corpus(): unknown[] {
  const suite: unknown = JSON.parse(readFileSync(new URL('../src/cases/suite.json', import.meta.url), 'utf8'));
  const out: unknown[] = [null, true, 0, -1.5, '', 'x', [], {}, { kind: null }, { pushers: [{}] }, { versions: ['v1.1'] }, { errcode: 'M_X', error: 1 }];
  const stack = [suite];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    out.push(v);
    stack.push(...(Array.isArray(v) ? v : Object.values(v)));
  }
  return out;
}

function disagreements(kept: Record<string, ValidateFunction>, compiled: Record<string, ValidateFunction>, values: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const [id, fresh] of Object.entries(compiled)) {
    const stored = kept[id];
    if (stored === undefined) {
      out.push(`${id}: not kept`);
      continue;
    }
    for (const value of values) {
      const a = stored(value);
      const b = fresh(value);
      if (a !== b || !isDeepStrictEqual(stored.errors ?? null, fresh.errors ?? null)) out.push(`${id}: ${JSON.stringify(value).slice(0, 120)}`);
    }
  }
  return out;
}

describe('kept schema validators', function () {
  this.timeout(60_000);
  const values = corpus();

  for (const set of ['all', 'first'] as const) {
    it(`the runner's ${set === 'all' ? 'all-errors' : 'first-error'} set judges as a fresh compile, and is not taken when made from other schemas`, function () {
      const { kept, compiled } = runnerSources(set);
      expect(kept, 'npm run build keeps it').not.to.equal(undefined);
      expect(Object.keys(compiled)).to.include(set === 'all' ? 'case' : 'v1/pusher');
      if (set === 'first') expect(Object.keys(compiled)).not.to.include('case');
      expect(disagreements(kept as Record<string, ValidateFunction>, compiled, values)).to.deep.equal([]);
      expect(runnerSources(set, 'made-from-other-schemas').kept).to.equal(undefined);
    });
  }

  it("the reference server's set judges as a fresh compile, errors with their values included, and is not taken when made from other schemas", function () {
    const { kept, compiled } = serverSources();
    expect(kept, 'npm run build keeps it').not.to.equal(undefined);
    expect(Object.keys(compiled)).to.include('v1/set-request');
    expect(disagreements(kept as Record<string, ValidateFunction>, compiled, values)).to.deep.equal([]);
    expect(serverSources('made-from-other-schemas').kept).to.equal(undefined);
  });
});

describe("kept parses of the spec's YAML files", function () {
  it('hold exactly what parsing editions.yaml and areas.yaml gives, and a changed text is parsed afresh', async function () {
    const { parseYaml, yaml } = await import('../src/yaml.js');
    const { AREAS_YAML_OPTIONS } = await import('../src/spec/areas.js');
    const { specDir } = await import('../src/paths.js');
    const { join } = await import('node:path');
    const kept = Object.values(JSON.parse(readFileSync(new URL('../src/yaml.kept.json', import.meta.url), 'utf8')) as Record<string, unknown>);
    for (const [name, options] of [['editions.yaml', {}], ['areas.yaml', AREAS_YAML_OPTIONS]] as const) {
      const text = readFileSync(join(specDir, name), 'utf8');
      const fresh: unknown = yaml().parse(text, options);
      expect(kept.some((v) => isDeepStrictEqual(v, fresh)), `${name} is kept (npm run build keeps it)`).to.equal(true);
      expect(parseYaml(text, options)).to.deep.equal(fresh);
      const changed = `${text}\nextra: {title: x}\n`;
      expect(parseYaml(changed, options)).to.deep.equal(yaml().parse(changed, options));
      expect((parseYaml(changed, options) as Record<string, unknown>)['extra']).to.deep.equal({ title: 'x' });
    }
  });
});
