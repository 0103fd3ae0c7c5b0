import { expect } from 'chai';
import { loadSuite } from '../src/kinds.js';
import { CaseFileError } from '../src/errors.js';
import { tmpCases, VALID_CASE } from './support/tmp-cases.js';

function problemsOf(files: Record<string, string>): string[] {
  try {
    loadSuite({ dir: tmpCases(files) });
  } catch (err) {
    expect(err).to.be.instanceOf(CaseFileError);
    return (err as CaseFileError).problems.map((p) => `${p.file.replace(/^.*conformance-cases-[^/]+\//, '')}:${p.line ?? '?'}: ${p.message}`);
  }
  throw new Error('expected the suite not to load');
}

describe('case loading', function () {
  it('loads the bundled suite without problems', function () {
    const suite = loadSuite();
    expect(suite.cases.length).to.be.greaterThan(10);
    expect(new Set(suite.cases.map((c) => c.id)).size).to.equal(suite.cases.length);
  });

  it('loads a valid case and defaults auth to the first user', function () {
    const suite = loadSuite({ dir: tmpCases({ 'v1/pushers/ok.yaml': VALID_CASE }) });
    expect(suite.cases).to.have.length(1);
    expect((suite.cases[0]?.steps[0]?.spec as { auth?: string } | undefined)?.auth).to.equal('alice');
  });

  it('reports a YAML syntax error with file, line and column', function () {
    const problems = problemsOf({ 'v1/pushers/bad.yaml': 'id: v1.x\ntitle: [unclosed\n' });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/^v1\/pushers\/bad\.yaml:\d+: YAML syntax: /);
  });

  it('reports a duplicate key as a YAML error', function () {
    expect(problemsOf({ 'v1/pushers/dup.yaml': VALID_CASE + 'title: again\n' })[0]).to.match(/v1\/pushers\/dup\.yaml:\d+: YAML syntax: .*[Uu]nique|duplicate/i);
  });

  it('points at the line of a schema violation', function () {
    const text = VALID_CASE.replace('status: 200', 'status: "200"');
    const problems = problemsOf({ 'v1/pushers/type.yaml': text });
    expect(problems.some((p) => p.startsWith('v1/pushers/type.yaml:14: /steps/0/expect/0/status'))).to.equal(true, problems.join('\n'));
  });

  it('names an unknown member and its line', function () {
    const problems = problemsOf({ 'v1/pushers/extra.yaml': VALID_CASE.replace('title: set\n', 'title: set\n    tiemout: 5\n') });
    expect(problems.join('\n')).to.match(/v1\/pushers\/extra\.yaml:8: .*must NOT have additional properties 'tiemout'/);
  });

  it('rejects unknown requirement ids and uncited requirements', function () {
    const problems = problemsOf({ 'v1/pushers/req.yaml': VALID_CASE.replace('requirements: [v1.set.success]', 'requirements: [v1.set.success, v1.set.no-such-rule, v1.set.success-empty]') });
    expect(problems.join('\n')).to.include('unknown requirement v1.set.no-such-rule');
    expect(problems.join('\n')).to.include('requirement v1.set.success-empty is listed but no expectation checks it');
  });

  it('rejects an expectation citing a requirement the case does not list', function () {
    const problems = problemsOf({ 'v1/pushers/cite.yaml': VALID_CASE.replace('- requirement: v1.set.success\n', '- requirement: v1.set.success-empty\n') });
    expect(problems.join('\n')).to.include('requirement v1.set.success-empty is not listed');
  });

  it('rejects auth that names no user, unknown operators, and variables never captured', function () {
    const text = VALID_CASE.replace('json: {kind: http}', 'auth: bob\n      json: {kind: {$eval: "1+1"}, app_id: {$var: appid}}');
    const problems = problemsOf({ 'v1/pushers/ops.yaml': text }).join('\n');
    expect(problems).to.include('auth "bob" is not one of the case\'s users');
    expect(problems).to.include('unknown operator "$eval"');
    expect(problems).to.include('{$var: appid} is used before any earlier step captures it');
  });

  it('rejects a case filed under the wrong edition, with a wrong id prefix, and duplicate ids', function () {
    const problems = problemsOf({ 'draft/pushers/a.yaml': VALID_CASE, 'v1/pushers/b.yaml': VALID_CASE, 'v1/pushers/c.yaml': VALID_CASE }).join('\n');
    expect(problems).to.include('edition is v1 but the file is under cases/draft/');
    expect(problems).to.include('case id v1.test.ok is already used by');
  });

  it('reports problems of every file at once', function () {
    const problems = problemsOf({ 'v1/pushers/a.yaml': 'id: [', 'v1/pushers/b.yaml': 'title: no id\n' });
    expect(problems.some((p) => p.startsWith('v1/pushers/a.yaml'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('v1/pushers/b.yaml'))).to.equal(true);
  });

  it('rejects matchers outside expectations and bad $string arguments', function () {
    const text = VALID_CASE.replace('json: {kind: http}', 'json: {kind: {$absent: true}, app_id: {$string: {fill: a}}}');
    const problems = problemsOf({ 'v1/pushers/m.yaml': text }).join('\n');
    expect(problems).to.include('$absent is a matcher');
    expect(problems).to.include('$string needs exactly one of `chars` and `bytes`');
  });
});
