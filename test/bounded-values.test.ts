/**
 * Every value from a target goes through the same depth and size limits:
 * bodies of its answers, pokes it sends the mock gateway, and what the
 * --trace file and the reports keep of them. A value nested 5 000 or 100 000
 * deep once ended a run with a RangeError (exit 70, or a raw stack trace and
 * a cut HAR file).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonText, shortJson } from '../src/text.js';
import { gatewayService } from '../src/areas/delivery/gateway/index.js';
import { loadSuite, run } from '../src/kinds.js';
import { cli } from './support/cli.js';
import { megaArray, startMisbehaving } from './support/misbehaving-server.js';
import { jsonShape } from '../src/json.js';
import { startProxy, type Json } from './support/proxy-server.js';

/** `depth` arrays, one inside the next, as JSON text. */
const nested = (depth: number, inner = ''): string => '['.repeat(depth) + inner + ']'.repeat(depth);

/** The same nesting as a value, built without recursion. */
function nestedValue(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

interface Report {
  conformance: { results: Array<{ id: string; outcome: string; failures: Array<{ actual: unknown }>; error?: { code: string }; durationMs: number }> };
}

describe('values from a target: bounded in depth and size', function () {
  this.timeout(120_000);
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'conformance-bounded-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('jsonText writes what JSON.stringify writes, and a value 100 000 deep without recursion', function () {
    for (const v of [{ a: [1, 'two', null, true, { b: 'é\u2028\ud83d\ude00' }], c: undefined, d: NaN }, [undefined, () => 1], 'x', 0, null, {}])
      expect(jsonText(v).text).to.equal(JSON.stringify(v));
    const deep = nestedValue(100_000);
    expect(() => JSON.stringify(deep)).to.throw(RangeError);
    const whole = jsonText(deep);
    expect(whole.depth).to.equal(100_000);
    expect(whole.bytes).to.equal(200_000);
    const cut = jsonText(deep, 100);
    expect(cut).to.include({ cut: true, bytes: 200_000 });
    expect(cut.text).to.equal('['.repeat(100));
    // Shortened well-formed, without recursing through it.
    expect(shortJson(deep, 10)).to.equal('[[[[…]]]]');
  });

  it('jsonShape: the depth of a text, and about how many values parsing it makes (a long string is one)', function () {
    expect(jsonShape(megaArray(262_000))).to.deep.equal({ depth: 2, values: 2 + 2 * 262_000 + 261_999 });
    expect(jsonShape(`{"filler":"${'x,['.repeat(100_000)}"}`)).to.deep.equal({ depth: 1, values: 2 });
    expect(jsonShape(nested(5_000)).depth).to.equal(5_000);
  });

  it('a cut never splits a surrogate pair', function () {
    const j = jsonText(['\ud83d\ude00\ud83d\ude00'], 4);
    expect(j.cut).to.equal(true);
    expect(j.text).to.equal('["\ud83d\ude00');
    expect(jsonText(['\ud83d\ude00'], 3).text).to.equal('["');
  });

  for (const depth of [5_000, 100_000]) {
    it(`GET /pushers answering a body ${depth} deep holding a member named access_token: the run and --trace end cleanly`, async function () {
      const proxy = await startProxy({
        name: `deep ${depth}`,
        onResponse: (req, res) =>
          req.method === 'GET' && /\/v3\/pushers$/.test(req.path) && res.status === 200 ? { status: 200, headers: { 'content-type': 'application/json' }, body: `{"access_token":"syt_LEAKED_by_name_0123","pushers":${nested(depth)}}` } : undefined,
      });
      try {
        const trace = join(dir, 'trace.har');
        const report = join(dir, 'r.json');
        const r = await cli(['--target', proxy.url, '--edition', 'v1', '--no-delivery', '--grep', 'v1.get.round-trip', '--trace', trace, '--reporter', `json:${report}`], 60_000);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).not.to.match(/internal error|RangeError/);
        const har = JSON.parse(readFileSync(trace, 'utf8')) as { log: { entries: Array<{ response: { content: { text?: string } } }> } };
        const texts = har.log.entries.map((e) => e.response.content.text ?? '');
        expect(texts.some((t) => t.includes('"access_token":"$REDACTED"')), 'the member is blanked by its name').to.equal(true);
        expect(texts.join('\n')).not.to.include('syt_LEAKED');
        const results = (JSON.parse(readFileSync(report, 'utf8')) as Report).conformance.results;
        expect(results.map((x) => x.error?.code)).to.include('ERR_JSON_TOO_DEEP');
      } finally {
        await proxy.close();
      }
    });
  }

  // The mock gateway takes bodies up to 64 KiB: 30 000 levels is about as deep as a poke it keeps can be.
  for (const depth of [5_000, 30_000]) {
    it(`a poke ${depth} deep, sent straight to the mock gateway, leaves its case without a verdict at once, the poke kept cut in the report`, async function () {
      const proxy = await startProxy({
        name: `deep poke ${depth}`,
        delivery: true,
        onPush: (call) => {
          const devices = (call.body['notification'] as Json)['devices'] as Json[];
          // Written by hand: the test process could not JSON.stringify the value either.
          const text = JSON.stringify({ ...call.body, notification: { ...(call.body['notification'] as Json), devices: devices.map((d) => ({ ...d, data: '@DEEP@' })) } }).replaceAll('"@DEEP@"', nested(depth, '{"org.example":"deepest"}'));
          return call.forward(text);
        },
      });
      try {
        const report = join(dir, 'r.json');
        const r = await cli(['--target', proxy.url, '--edition', 'v1', '--gateway-tls', '--grep', 'v1.push.data-forwarded', '--reporter', `json:${report}`], 90_000);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).not.to.match(/internal error|RangeError/);
        const result = (JSON.parse(readFileSync(report, 'utf8')) as Report).conformance.results.find((x) => x.id === 'v1.push.data-forwarded');
        // No check can read it, so no verdict: the case errors at once (it does not wait out the poke's timeout as if none had come).
        expect(result?.outcome).to.equal('errored');
        expect(result?.error?.code).to.equal('ERR_JSON_TOO_DEEP');
        expect(result?.durationMs, 'ended when the poke came').to.be.below(10_000);
        const poke = (result as unknown as { exchanges?: Array<{ request: { url: string; body?: string } }> }).exchanges?.find((x) => x.request.url.endsWith('/_matrix/push/v1/notify') && (x.request.body ?? '').includes('[[['));
        expect(poke, 'the poke is among the exchanges, kept cut').to.not.equal(undefined);
        expect((poke?.request.body ?? '').length).to.be.at.most(65 * 1024);
      } finally {
        await proxy.close();
      }
    });
  }

  it('a target answering every pushers request with a 1 MB array of 262 000 {}: the same verdicts at --jobs 16 and 1, each value kept cut', async function () {
    const server = await startMisbehaving({ at: 'pushers', mode: 'mega-array' });
    try {
      const suite = loadSuite();
      const outcomes = async (jobs: number): Promise<{ outcomes: string[]; report: Awaited<ReturnType<typeof run>> }> => {
        const report = await run({ target: server.url, editions: ['v1'], suite, grep: 'v1.get', jobs, services: new Map([['gateway', gatewayService(server.url, { off: true })]]) });
        return { outcomes: report.results.map((r) => `${r.id} ${r.outcome} ${[...r.failures, ...r.warnings].map((f) => f.requirement).join(',')}${r.error ? ` ${r.error.code}` : ''}`), report };
      };
      const many = await outcomes(16);
      const one = await outcomes(1);
      expect(many.outcomes).to.deep.equal(one.outcomes);
      expect(many.outcomes.filter((o) => / failed /.test(o)).length, 'cases fail on the arrays').to.be.greaterThan(3);
      for (const r of many.report.results) {
        for (const f of [...r.failures, ...r.warnings]) {
          for (const v of [f.expected, f.actual]) expect(jsonText(v).bytes, `${r.id}: a value of at most 64 KiB (and a margin)`).to.be.below(70 * 1024);
          expect(f.exchange?.response?.body.length ?? 0).to.be.at.most(64 * 1024);
        }
      }
    } finally {
      await server.close();
    }
  });
});
