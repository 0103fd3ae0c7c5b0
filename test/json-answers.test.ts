/**
 * What the cases about NaN, Infinity and 1e400 rest on: a request body built
 * from parts (literal text, generated values written as JSON), a status class
 * (`4xx`), `end_if` (the case ends with its verdict when the answer leaves
 * nothing more to judge), `is_json` (an answer that is not JSON is then a
 * verdict, not an error), and the clean-up of a pusher a lenient server took
 * from a body with NaN in it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { CaseFileError, loadSuite, run, type CaseResult } from '../src/index.js';
import { casesDir } from '../src/paths.js';
import { readsNonFinite } from './support/mutations.js';
import { isGet, isSet, startProxy, type Mutation, type ProxyRequest } from './support/proxy-server.js';
import { tmpCases } from './support/tmp-cases.js';

const EDITION = readFileSync(join(casesDir, 'v1', '_edition.yaml'), 'utf8');

/** Sets a pusher whose data holds NaN; when refused (a 4xx) the case ends, else it lists the pushers. */
const NAN_CASE = `id: v1.test.nan
title: a raw body built from parts, a status class and end_if
edition: v1
requirements: [v1.set.success, v1.api.json-answers]
users: [alice]
steps:
  - title: set a pusher whose data holds NaN
    request:
      method: POST
      path: /pushers/set
      raw: ['{"kind": "http", "app_id": "org.example.app", "pushkey": ', {$unique: key}, ', "app_display_name": "A", "device_display_name": "D", "lang": "en", "data": {"url": "https://push.example.org/_matrix/push/v1/notify", "n": NaN}}']
    expect:
      - {requirement: v1.set.success, status: [200, 4xx]}
    end_if: {status: 4xx, reason: nothing was kept}
  - title: list the pushers
    request: {method: GET, path: /pushers}
    expect:
      - {requirement: v1.api.json-answers, status: 200, is_json: true}
`;
/** The same list step, checked by a list expectation instead of is_json. */
const LIST_CASE = NAN_CASE.replace('v1.test.nan', 'v1.test.list').replace('{requirement: v1.api.json-answers, status: 200, is_json: true}', '{requirement: v1.api.json-answers, status: 200, list: {at: /pushers, excludes: [{kind: email}]}}');

async function runCase(text: string, m: Mutation): Promise<{ result: CaseResult; seen: ProxyRequest[] }> {
  const seen: ProxyRequest[] = [];
  const proxy = await startProxy({
    ...m,
    onRequest: (req, ...rest) => {
      seen.push(req);
      return m.onRequest?.(req, ...rest);
    },
  });
  try {
    const suite = loadSuite({ dir: tmpCases({ 'v1/_edition.yaml': EDITION, 'v1/pushers/a.yaml': text }), editions: ['v1'] });
    const report = await run({ target: proxy.url, editions: ['v1'], suite, jobs: 1 });
    return { result: report.results[0] as CaseResult, seen };
  } finally {
    await proxy.close();
  }
}

const sets = (seen: ProxyRequest[]): ProxyRequest[] => seen.filter((q) => isSet(q, 'v1'));

describe('bodies JSON cannot write: raw parts, status classes, end_if, is_json', function () {
  this.timeout(20_000);

  it('writes generated values into a raw body as JSON; a refusal (4xx) ends the case with its verdict, sending nothing more', async function () {
    const { result, seen } = await runCase(NAN_CASE, { name: 'the reference server' });
    expect(result.outcome, JSON.stringify(result.failures)).to.equal('passed');
    const [set, ...more] = sets(seen);
    expect(set?.body).to.match(/"pushkey": "key-[^"]+", "app_display_name"/).and.include('"n": NaN}}');
    expect(more, 'no clean-up: nothing was created').to.deep.equal([]);
    expect(seen.filter(isGet), 'the step after end_if is not sent').to.deep.equal([]);
  });

  it('an acceptance goes on; the pusher taken from a body with NaN is cleaned up (a lenient read of the body names it)', async function () {
    const { result, seen } = await runCase(NAN_CASE, { name: 'NaN read as null', ...readsNonFinite({ listed: 'null', poked: 'null' }) });
    expect(result.outcome, JSON.stringify(result.failures)).to.equal('passed');
    expect(seen.filter(isGet).length).to.be.greaterThan(0);
    const pushkey = /"pushkey": "([^"]+)"/.exec(sets(seen)[0]?.body ?? '')?.[1];
    const deletes = sets(seen).filter((q) => (q.json as { kind?: unknown } | undefined)?.kind === null);
    expect(deletes.map((q) => (q.json as { pushkey?: unknown }).pushkey)).to.deep.equal([pushkey]);
  });

  it('is_json makes an answer that is not JSON a failure of its requirement; without it the step has no verdict', async function () {
    const echo = { name: 'NaN written back bare', ...readsNonFinite({ listed: 'bare', poked: 'null' }) };
    const judged = await runCase(NAN_CASE, echo);
    expect(judged.result.outcome).to.equal('failed');
    expect(judged.result.failures.map((f) => [f.requirement, f.check])).to.deep.equal([['v1.api.json-answers', 'is_json']]);
    const unjudged = await runCase(LIST_CASE, echo);
    expect(unjudged.result.outcome).to.equal('errored');
    expect(unjudged.result.error?.code).to.equal('ERR_NOT_JSON');
  });

  it('refuses a status class that is not one, end_if without a status, and end_if in a finally step', function () {
    const problems = (text: string): string => {
      try {
        loadSuite({ dir: tmpCases({ 'v1/pushers/a.yaml': text }), editions: ['v1'] });
        return '';
      } catch (err) {
        if (err instanceof CaseFileError) return err.problems.map((p) => p.message).join('\n');
        throw err;
      }
    };
    expect(problems(NAN_CASE.replace('status: [200, 4xx]', 'status: [200, 4XX]'))).to.match(/status/);
    expect(problems(NAN_CASE.replace('end_if: {status: 4xx, reason: nothing was kept}', 'end_if: {reason: nothing was kept}'))).to.match(/end_if/);
    expect(problems(`${NAN_CASE}finally:\n  - title: x\n    request: {method: GET, path: /pushers}\n    end_if: {status: 4xx, reason: r}\n`)).to.include('a finally step holds a title and its request only');
    expect(problems(NAN_CASE)).to.equal('');
  });
});
