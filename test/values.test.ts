import { expect } from 'chai';
import { match, pointer, resolve, ValueError, type ValueContext } from '../src/cases/values.js';
import { inForce, linkFor, loadSpec, parseRequirements, versionRange, type Requirement } from '../src/spec/requirements.js';

const ctx: ValueContext = {
  unique: (n) => `${n}-u`,
  variable: (n) => (n === 'x' ? 42 : undefined),
  userId: (a) => `@${a}:hs`,
  template: (n) => (n === 'p' ? { a: 1, b: { $unique: 'k' }, c: 3 } : undefined),
};

describe('generators', function () {
  it('builds strings of exact character and byte lengths', function () {
    const s = resolve({ $string: { fill: 'é', chars: 64 } }, ctx) as string;
    expect([...s]).to.have.length(64);
    expect(Buffer.byteLength(s)).to.equal(128);
    const b = resolve({ $string: { prefix: { $unique: 'pk' }, fill: 'a', bytes: 512 } }, ctx) as string;
    expect(Buffer.byteLength(b)).to.equal(512);
    expect(b.startsWith('pk-u')).to.equal(true);
  });

  it('refuses a length the fill cannot reach exactly', function () {
    expect(() => resolve({ $string: { fill: 'é', bytes: 513 } }, ctx)).to.throw(ValueError);
  });

  it('expands templates with members replaced and removed', function () {
    expect(resolve({ $template: 'p', with: { c: { $var: 'x' } }, without: ['a'] }, ctx)).to.deep.equal({ b: 'k-u', c: 42 });
  });

  it('expands user ids and nested values', function () {
    expect(resolve([{ u: { $user_id: 'alice' } }], ctx)).to.deep.equal([{ u: '@alice:hs' }]);
  });
});

describe('matching', function () {
  it('exact mode refuses extra members; includes mode allows them', function () {
    expect(match({ a: 1 }, { a: 1, b: 2 }, 'exact')).to.have.length(1);
    expect(match({ a: 1 }, { a: 1, b: 2 }, 'includes')).to.deep.equal([]);
  });

  it('{} matches only objects', function () {
    expect(match({}, [], 'includes')).to.have.length(1);
    expect(match({}, 'x', 'includes')).to.have.length(1);
    expect(match({}, {}, 'exact')).to.deep.equal([]);
  });

  it('$absent and $anyOf express "absent or empty string"', function () {
    const pattern = { p: { $anyOf: [{ $absent: true }, ''] } };
    expect(match(pattern, {}, 'includes')).to.deep.equal([]);
    expect(match(pattern, { p: '' }, 'includes')).to.deep.equal([]);
    expect(match(pattern, { p: null }, 'includes')).to.have.length(1);
    expect(match(pattern, { p: 'x' }, 'includes')).to.have.length(1);
  });

  it('reports the path of a difference', function () {
    const [m] = match({ a: { b: [1, 2] } }, { a: { b: [1, 3] } }, 'exact');
    expect(m?.path).to.equal('/a/b/1');
  });

  it('follows JSON pointers', function () {
    expect(pointer({ a: [{ 'x/y': 5 }] }, '/a/0/x~1y')).to.equal(5);
    expect(pointer({ a: 1 }, '')).to.deep.equal({ a: 1 });
    expect(pointer({ a: 1 }, '/b')).to.equal(undefined);
  });
});

describe('spec schemas', function () {
  it('every schema in spec/ compiles under strict Ajv, with $id and description', async function () {
    const { schemaIds, getValidator } = await import('../src/schemas.js');
    const ids = schemaIds();
    expect(ids).to.include.members(['matrix-error', 'v1/set-request', 'v1/pusher', 'v1/pushers-response', 'draft/set-request', 'case', 'expectations']);
    for (const id of ids) expect(getValidator(id), id).to.be.a('function');
  });
});

describe('spec requirements', function () {
  it('parses ids, levels and statements from spec/pushers.md', function () {
    const spec = loadSpec();
    const r = spec.requirements.get('v1.set.app-id-length');
    expect(r?.level).to.equal('MUST');
    expect(r?.edition).to.equal('v1');
    expect(r?.text).to.include('64 characters');
    expect(spec.requirements.get('v1.set.success-empty')?.level).to.equal('SHOULD');
  });

  it('reads versions, ground and source of every requirement, and links it for the version judged', function () {
    const spec = loadSpec();
    const r = spec.requirements.get('v1.delete.minimal');
    expect(r?.since).to.equal('v1.6');
    expect(r?.ground).to.equal('request-constraint');
    expect(linkFor(r as Requirement, 'v1.13', spec.editions)).to.equal('https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv3pushersset');
    // Outside its range, the link goes to the nearest version in which it holds.
    expect(linkFor(r as Requirement, 'v1.2', spec.editions)).to.match(/^https:\/\/spec\.matrix\.org\/v1\.\d+\//);
    // A rule a later version withdrew (none of spec/ is one today).
    const f = parseRequirements('#### `v1.x.withdrawn` · MUST\nsince v1.1 · until v1.17 · reading · [POST /pushers/set](client-server-api/#post_matrixclientv3pushersset)\n\nA rule of v1.1 to v1.16.\n', 'x.md').get('v1.x.withdrawn') as Requirement;
    expect([inForce(f, 'v1.16', spec.editions), inForce(f, 'v1.17', spec.editions)]).to.deep.equal([true, false]);
    expect(linkFor(f, 'v1.19', spec.editions)).to.include('/v1.16/');
    expect(versionRange(f, spec.editions)).to.equal('v1.1–v1.16');
    for (const req of spec.requirements.values()) {
      expect(req.source.path, req.id).to.match(/^[a-z_.-]+(\/)?(#[a-z0-9_-]+)?$/);
      expect(req.since, req.id).to.not.equal('');
    }
  });

  it('refuses a malformed requirement heading, a missing data line, unknown versions and duplicates', function () {
    const meta = 'since v1.1 · server-rule · [x](client-server-api/#x)\n';
    expect(() => parseRequirements('#### `v1.a` · MAY\ntext\n', 'x.md')).to.throw(/level-4 heading/);
    expect(() => parseRequirements('#### `v1.a` · MUST\ntext\n', 'x.md')).to.throw(/expected "since VERSION/);
    expect(() => parseRequirements('#### `v1.a` · MUST\nsince v1.99 · server-rule · [x](y)\ntext\n', 'x.md')).to.throw(/v1\.99 is not a version/);
    expect(() => parseRequirements('#### `v1.a` · MUST\nsince v1.6 · until v1.2 · server-rule · [x](y)\ntext\n', 'x.md')).to.throw(/not after/);
    expect(() => parseRequirements(`#### \`v1.a\` · MUST\n${meta}text\n\n#### \`v1.a\` · MUST\n${meta}more\n`, 'x.md')).to.throw(/defined twice/);
    expect(() => parseRequirements(`#### \`v1.a\` · MUST\n${meta}\n## next\n`, 'x.md')).to.throw(/no statement/);
  });
});
