/**
 * What a run against a real server needs beyond verdicts: a user pool that
 * registers only what the running cases need and slows down under a
 * registration rate limit instead of stopping; editions the target does not
 * serve reported as such; --list asking the target; --trace as HAR 1.2;
 * credentials in --target refused. The CLI is spawned for real.
 */
import { expect } from 'chai';
import { loadSuite } from '../src/kinds.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/cli.js';
import { json, startProxy, type ProxyServer } from './support/proxy-server.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'conformance-real-'));

interface Report {
  conformance: {
    meta: { users?: number; notServed?: Record<string, string>; specVersions: Record<string, { version: string }> };
    results: Array<{ id: string; edition: string; outcome: string; skip?: { code: string; reason: string }; failures: Array<{ requirement: string }> }>;
  };
}

describe('runs against real servers', function () {
  this.timeout(120_000);

  describe('the user pool', function () {
    let registrations = 0;
    let limited = 0;
    let proxy: ProxyServer;
    before(async function () {
      // After the first two users, every second registration is rate-limited for a second.
      proxy = await startProxy({
        name: 'registration rate limit',
        onRequest: (req) => {
          if (req.method !== 'POST' || !req.path.endsWith('/register') || !req.json || !(req.json as { auth?: unknown }).auth) return undefined;
          registrations++;
          if (registrations > 2 && registrations % 2 === 1) {
            limited++;
            return { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '1' }, body: JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too many registrations' }) };
          }
          return undefined;
        },
      });
    });
    after(async function () {
      await proxy.close();
    });

    it('registers only as many users as the running cases need, reuses them, and slows down under a rate limit instead of stopping', async function () {
      const dir = tmp();
      const r = await cli(['--target', proxy.url, '--edition', 'v1', '--jobs', '4', '--reporter', `json:${join(dir, 'r.json')}`, '--reporter', 'spec']);
      expect(r.code, r.stderr + r.stdout.slice(-2000)).to.equal(0);
      const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Report;
      const ran = report.conformance.results.filter((x) => x.outcome === 'passed');
      expect(ran.length).to.be.greaterThan(50);
      // 4 cases at once, each with the most users a v1 case needs, and the cases needing fresh users their own.
      const v1 = loadSuite().cases.filter((c) => c.edition === 'v1');
      const most = 4 * Math.max(...v1.map((c) => c.users.length)) + v1.filter((c) => c.freshUsers).reduce((n, c) => n + c.users.length, 0);
      expect(report.conformance.meta.users, 'users registered').to.be.at.most(most);
      expect(report.conformance.meta.users).to.be.at.least(2);
      expect(limited, 'the rate limit was met').to.be.greaterThan(0);
    });
  });

  describe('editions the target does not serve', function () {
    let proxy: ProxyServer;
    before(async function () {
      proxy = await startProxy({
        name: 'no draft endpoints, no v1 pushers',
        onRequest: (req) => (req.path.startsWith('/_matrix/client/api/v1/') || /\/v3\/pushers/.test(req.path) ? json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }) : undefined),
      });
    });
    after(async function () {
      await proxy.close();
    });

    it('a draft edition that is not served and not advertised is skipped with that reason; an advertised v1 that 404s fails', async function () {
      const dir = tmp();
      const r = await cli(['--target', proxy.url, '--edition', 'all', '--reporter', `json:${join(dir, 'r.json')}`, '--reporter', 'spec']);
      expect(r.code, r.stderr).to.equal(1);
      const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Report;
      expect(Object.keys(report.conformance.meta.notServed ?? {})).to.deep.equal(['draft']);
      const draft = report.conformance.results.filter((x) => x.edition === 'draft');
      expect(draft.length).to.be.greaterThan(10);
      for (const c of draft) expect(c.skip?.code, c.id).to.equal('not-served');
      const v1 = report.conformance.results.filter((x) => x.edition === 'v1' && x.outcome === 'failed');
      expect(v1.length, 'v1 is advertised: its 404s are failures').to.be.greaterThan(10);
      expect(r.stdout).to.match(/^not served: edition draft: POST \/_matrix\/client\/api\/v1\/pushers\/set answered 404 M_UNRECOGNIZED/m);
    });

    it('--list --target lists what the run would select, and says why the rest are left out', async function () {
      const r = await cli(['--list', '--target', proxy.url, '--edition', 'all']);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trim().split('\n');
      const summary = lines.pop() as string;
      const left = lines.filter((l) => l.includes('\tleft out: '));
      expect(left.length).to.be.greaterThan(10);
      // Draft cases (not served), and v1 cases of rules that no longer hold in the version judged.
      expect(left.filter((l) => !l.startsWith('draft.') && !/\tleft out: not in v1\.\d+: /.test(l))).to.deep.equal([]);
      expect(summary).to.match(new RegExp(`^${lines.length - left.length} cases would run \\(${left.length} left out\\) — judged v1 by v1\\.\\d+, draft by draft$`));
    });
  });

  describe('--list against the reference server', function () {
    it('selects exactly what the run runs', async function () {
      const { createServer } = await import('../reference-server/index.js');
      const server = await createServer({ port: 0, versions: ['v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5'] });
      try {
        const dir = tmp();
        const [list, run] = await Promise.all([cli(['--list', '--target', server.url]), cli(['--target', server.url, '--reporter', `json:${join(dir, 'r.json')}`])]);
        expect(run.code, run.stderr).to.equal(0);
        const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Report;
        expect(report.conformance.meta.specVersions['v1']?.version).to.equal('v1.5');
        const wouldRun = list.stdout.trim().split('\n').slice(0, -1).filter((l) => !l.includes('\tleft out: ')).map((l) => l.split('\t')[0]);
        // A case the target turns away when it runs (it refuses the gateway's URL) is skipped then; --list cannot know.
        expect(wouldRun.sort()).to.deep.equal(report.conformance.results.filter((x) => x.outcome !== 'skipped' || (x.skip as { cause?: string } | undefined)?.cause === 'target').map((x) => x.id).sort());
      } finally {
        await server.close();
      }
    });
  });

  it('--trace writes every exchange as HAR 1.2, with no secret in it', async function () {
    const dir = tmp();
    const file = join(dir, 'trace.har');
    const r = await cli(['--grep', 'v1.get.isolation', '--trace', file]);
    expect(r.code, r.stderr).to.equal(0);
    const har = JSON.parse(readFileSync(file, 'utf8')) as { log: { version: string; creator: { name: string }; entries: Array<{ request: { method: string; url: string; headers: Array<{ name: string; value: string }>; postData?: { text: string } }; response: { status: number; content: { text?: string } }; startedDateTime: string; time: number }> } };
    expect(har.log.version).to.equal('1.2');
    expect(har.log.creator.name).to.equal('matrix-pushers-conformance');
    const entries = har.log.entries;
    expect(entries.length).to.be.greaterThan(8);
    expect(entries.some((e) => e.request.url.endsWith('/_matrix/client/versions'))).to.equal(true);
    expect(entries.some((e) => e.request.url.endsWith('/register'))).to.equal(true);
    for (const e of entries) {
      expect(Number.isNaN(Date.parse(e.startedDateTime))).to.equal(false);
      expect(e.time).to.be.a('number');
      for (const h of e.request.headers) if (h.name.toLowerCase() === 'authorization') expect(h.value).to.match(/^Bearer \$[A-Z0-9_]+$/);
    }
    const text = readFileSync(file, 'utf8');
    expect(text).not.to.match(/"access_token":"(?!\$)/);
    expect(text).not.to.match(/"password":"(?!\$)/);
  });

  it('a user name or password in --target is refused, and not repeated', async function () {
    const r = await cli(['--target', 'http://admin:s3cret-pass@127.0.0.1:1']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--target must not carry a user name or password');
    expect(r.stderr).not.to.include('s3cret-pass');
    expect(r.stderr).not.to.include('admin');
  });
});
