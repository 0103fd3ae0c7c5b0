/**
 * The CLI as users and CI meet it: spawned for real, judged by exit code and
 * by the reports it writes.
 */
import { expect } from 'chai';
import { cli, CLI } from './support/cli.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROKEN } from './support/mutations.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { closedPort } from './support/misbehaving-server.js';
import { tmpCases } from './support/tmp-cases.js';




const tmp = (): string => mkdtempSync(join(tmpdir(), 'conformance-cli-'));

/** Records every access token that passes through it, to prove none reaches a report. */
function tokenSpy(): { tokens: Set<string>; mutation: (typeof BROKEN)[number] } {
  const tokens = new Set<string>();
  const base = BROKEN.find((b) => b.violates === 'v1.set.app-id-length' && b.fails.length > 0);
  if (!base) throw new Error('no app-id-length broken server');
  return {
    tokens,
    mutation: {
      ...base,
      onRequest: (req, state, forward, push) => {
        if (req.token) tokens.add(req.token);
        return base.onRequest?.(req, state, forward, push);
      },
    },
  };
}

describe('CLI', function () {
  this.timeout(90_000);

  it('exit 0: the bundled reference server conforms (every edition, strict)', async function () {
    const r = await cli(['--strict']);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.include('bundled reference server');
    expect(r.stdout).to.match(/^judged: +v1 by v1\.\d+; draft by draft$/m);
    expect(r.stdout).to.match(/^\[ *\d+\/\d+\] pass  v1\./m);
    expect(r.stdout).to.match(/^\[ *\d+\/\d+\] pass  draft\./m);
    expect(r.stdout).to.include('conformance: conforms at level SHOULD (--strict)');
  });

  it('--reporter json writes mocha JSON with stats, tests, failures and provenance', async function () {
    const out = join(tmp(), 'report.json');
    const r = await cli(['--reporter', 'json', '--output', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('');
    const report = JSON.parse(readFileSync(out, 'utf8')) as { stats: { passes: number; failures: number; pending: number; tests: number }; tests: unknown[]; failures: unknown[]; passes: unknown[]; conformance: { meta: { target: string; editions: string[] } } };
    expect(report.stats.failures).to.equal(0);
    expect(report.stats.passes + report.stats.pending, "every case passed or was left out for its version").to.equal(report.stats.tests);
    expect(report.tests).to.have.length(report.stats.tests);
    expect(report.failures).to.deep.equal([]);
    expect(report.conformance.meta.editions).to.deep.equal(['v1', 'draft']);
  });

  describe('against a broken server', function () {
    let server: ProxyServer;
    const spy = tokenSpy();
    before(async function () {
      server = await startProxy(spy.mutation);
    });
    after(async function () {
      await server.close();
    });

    it('exit 1, with the requirement, level, spec quote, exchange and curl line in the failure', async function () {
      const r = await cli(['--target', server.url]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.include('v1.set.app-id-65-chars');
      expect(r.stdout).to.include('MUST v1.set.app-id-length');
      expect(r.stdout).to.include('expected status 400, got 200');
        expect(r.stdout).to.match(/^MUST v1\.set\.app-id-length — v1\.1\+ · request-constraint$/m);
      expect(r.stdout).to.include('  `app_id` is at most 64 characters long.');
      expect(r.stdout).to.match(/^  https:\/\/spec\.matrix\.org\/v1\.\d+\/client-server-api\/#post_matrixclientv3pushersset$/m);
      expect(r.stdout).to.match(/reproduce: curl -sS -i -X POST '.*\/_matrix\/client\/v3\/pushers\/set' -H "authorization: Bearer \$USER\d+_TOKEN"/);
      expect(r.stdout).to.include('DOES NOT CONFORM');
      expect(r.stdout, 'the default edition is what the target advertises').not.to.include('edition draft');
    });

    it('json, junit and tap reports name the failing case; no report holds a token', async function () {
      const dir = tmp();
      const runs = await Promise.all([
        cli(['--target', server.url, '--reporter', 'json', '--output', join(dir, 'r.json')]),
        cli(['--target', server.url, '--reporter', 'junit', '--output', join(dir, 'r.xml')]),
        cli(['--target', server.url, '--reporter', 'tap']),
        cli(['--target', server.url, '--reporter', 'spec', '--strict']),
      ]);
      for (const r of runs) expect(r.code, r.stderr).to.equal(1);
      const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as { stats: { failures: number }; failures: Array<{ title: string }>; conformance: { results: Array<{ id: string; outcome: string; failures: Array<{ requirement: string; level: string; link: string }> }> } };
      expect(json.stats.failures).to.equal(1);
      expect(json.failures[0]?.title).to.match(/^v1\.set\.app-id-65-chars: /);
      const failed = json.conformance.results.filter((x) => x.outcome === 'failed');
      expect(failed.map((x) => x.id)).to.deep.equal(['v1.set.app-id-65-chars']);
      expect(failed[0]?.failures[0]).to.include({ requirement: 'v1.set.app-id-length', level: 'MUST' });
      expect(failed[0]?.failures[0]?.link).to.match(/^https:\/\/spec\.matrix\.org\/v1\.\d+\//);
      const xml = readFileSync(join(dir, 'r.xml'), 'utf8');
      expect(xml).to.match(/<testsuites [^>]*failures="1"/);
      expect(xml).to.match(/<testcase name="v1\.set\.app-id-65-chars"[^>]*>\s*<failure/);
      expect(runs[2]?.stdout).to.match(/^not ok \d+ .*v1\.set\.app-id-65-chars/m);
      expect(spy.tokens.size, 'the spy saw tokens').to.be.greaterThan(0);
      const everything = [readFileSync(join(dir, 'r.json'), 'utf8'), xml, ...runs.flatMap((r) => [r.stdout, r.stderr])].join('\n');
      for (const t of spy.tokens) expect(everything.includes(t), 'a token leaked into a report').to.equal(false);
    });
  });

  it('every reporter carries provenance: suite version, target, server, versions, editions, level, time', async function () {
    const dir = tmp();
    const r = await cli(['--grep', 'auth', '--reporter', 'spec', '--reporter', `json:${join(dir, 'r.json')}`, '--reporter', `junit:${join(dir, 'r.xml')}`, '--reporter', `tap:${join(dir, 'r.tap')}`]);
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as { conformance: { meta: Record<string, unknown> } };
    const meta = json.conformance.meta;
    expect(meta).to.include.keys('suite', 'target', 'server', 'versions', 'editions', 'strict', 'startedAt', 'finishedAt');
    const target = meta['target'] as string;
    const version = (meta['suite'] as { version: string }).version;
    const xml = readFileSync(join(dir, 'r.xml'), 'utf8');
    for (const name of ['suite.version', 'target', 'edition', 'spec.version', 'level', 'server', 'versions', 'started']) expect(xml).to.include(`<property name="${name}"`);
    const tap = readFileSync(join(dir, 'r.tap'), 'utf8');
    for (const text of [r.stdout, tap, xml]) {
      expect(text).to.include(target);
      expect(text).to.include(version);
      expect(text).to.include('matrix-pushers-conformance-reference-server');
    }
    expect(tap).to.match(/^# v1 judged by v1\.\d+ .*; draft judged by draft — level MUST$/m);
  });

  it('exit 2: a bad command line lists every problem and the usage', async function () {
    const r = await cli(['--edition', 'v2', '--jobs', '0', '--frobnicate', '--quiet-period', '0', '--retry-window', '1.5']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--edition is draft, v1 or all, got "v2"');
    expect(r.stderr).to.include('--jobs takes a whole number from 1 to 256');
    expect(r.stderr).to.include('--quiet-period takes a whole number from 1 to 60000, got "0"');
    expect(r.stderr).to.include('--retry-window takes a whole number from 1 to 600, got "1.5"');
    expect(r.stderr).to.include('unknown option --frobnicate');
    expect(r.stderr, 'a usage error is not followed by the whole help').not.to.include('Usage:');
    expect(r.stderr.trim().split('\n').pop()).to.equal('conformance: see conformance --help');
  });

  it('exit 2: an invalid case file is reported as file:line, and nothing is run', async function () {
    const dir = tmpCases({ 'v1/pushers/broken.yaml': 'id: v1.broken\ntitle: x\nedition: v1\nrequirements: [v1.set.success]\nsteps: 7\n' });
    const r = await cli(['--cases', dir]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/v1\/pushers\/broken\.yaml:5: \/steps: must be array/);
    expect(r.stdout).to.equal('');
  });

  describe('exit 3: targets that cannot be tested', function () {
    let html: Server;
    let htmlUrl = '';
    before(async function () {
      html = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>hello</html>');
      });
      await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
      htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
    });
    after(function (done) {
      html.close(() => done());
    });

    it('a dead target gives one line', async function () {
      const r = await cli(['--target', `http://127.0.0.1:${await closedPort()}`]);
      expect(r.code).to.equal(3);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/unreachable: cannot connect \(ECONNREFUSED\)/);
    });

    it('a server that is not Matrix gives one line', async function () {
      const r = await cli(['--target', htmlUrl]);
      expect(r.code).to.equal(3);
      expect(r.stderr.trim()).to.match(/is not a Matrix homeserver: GET \/_matrix\/client\/versions answered 200 \(text\/html[^,]*, body ".*"\)$/);
    });
  });

  it('--list prints the selected cases', async function () {
    const r = await cli(['--list', '--edition', 'draft', '--grep', 'instance']);
    expect(r.code).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).to.match(/^\d+ cases$/);
    for (const l of lines.slice(0, -1)) expect(l).to.match(/^draft\./);
  });

  it('coverage prints requirement -> level -> cases and exits 0 when every MUST is covered', async function () {
    const r = await cli(['coverage']);
    expect(r.stdout).to.include('| v1.set.app-id-length | MUST |');
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).not.to.include('**none**');
  });

  it('serve --host 0.0.0.0 says the address it really listens on and warns; on loopback it does not warn', async function () {
    /** Starts serve, waits for its line on stdout and (when it warns) its warning, then stops it. */
    const served = (host: string, warns: boolean): Promise<{ stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        // The wildcard address is bound for as long as it takes to read two lines; the server holds no user.
        const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', host], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        const check = (): void => {
          if (stdout.includes('\n') && (!warns || stderr.includes('\n'))) child.kill('SIGTERM');
        };
        child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), check()));
        child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), check()));
        child.on('error', reject);
        child.on('close', () => resolve({ stdout, stderr }));
      });
    const wild = await served('0.0.0.0', true);
    expect(wild.stdout).to.match(/^reference server listening on http:\/\/0\.0\.0\.0:(\d+) \(from this machine: http:\/\/127\.0\.0\.1:\1\)\n$/);
    expect(wild.stderr).to.match(/^conformance: warning: the reference server listens on http:\/\/0\.0\.0\.0:\d+, beyond this machine/);
    const local = await served('127.0.0.1', false);
    expect(local.stdout).to.match(/^reference server listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    expect(local.stderr).to.equal('');
  });

  it('serve starts the reference server, which the runner can target', async function () {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m?.[1]) resolve(m[1]);
        });
        child.on('close', () => reject(new Error('serve exited: ' + out)));
      });
      const r = await cli(['--target', url, '--edition', 'all', '--strict']);
      expect(r.code, r.stdout).to.equal(0);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
