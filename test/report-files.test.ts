/**
 * Report files never claim what their run did not judge, and the files the
 * suite reads are bounded:
 *
 * - each report is written to a temporary file beside its path and renamed
 *   over it; before the first request every report path holds an
 *   "incomplete" report of its format, so a run killed mid-way (kill -9)
 *   leaves no earlier green report behind;
 * - an expectations file or a report to compare over 16 MiB (or without
 *   end: /dev/zero), or an expectations file with more YAML aliases than a
 *   few, is refused with exit 2 and one line;
 * - compare escapes what it shows from a report, and a path it cannot write
 *   is exit 2 and one line;
 * - the Server header copied into an expectations file's comment cannot end
 *   the comment for a YAML 1.1 reader (NEL, LS, PS).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { expectationsText } from '../src/expectations.js';
import { INCOMPLETE_EXPECTATIONS } from '../src/report/incomplete.js';
import { writeReportFile } from '../src/report/files.js';
import { getValidator } from '../src/schemas.js';
import type { RunReport } from '../src/run/types.js';
import { CLI, cli } from './support/cli.js';
import { expectNoRawControls, expectValidJunit, XMLLINT } from './support/reports.js';

/** A JSON report of one case, with `text` wherever a report carries text from its target. */
function reportWith(text: string, outcome = 'passed'): Record<string, unknown> {
  const meta = { suite: { name: 'matrix-pushers-conformance', version: '0.1.0' }, target: `http://127.0.0.1:1/${text}`, embedded: false, editions: ['v1'], strict: false, versions: { versions: [`v1.${text}`] }, specVersions: { v1: { version: 'v1.11', from: 'advertised' } }, server: `srv ${text}`, startedAt: 'now', finishedAt: 'now', durationMs: 1 };
  return {
    stats: { suites: 1, tests: 1, passes: 1, pending: 0, failures: 0, start: 'now', end: 'now', duration: 1 },
    tests: [],
    pending: [],
    failures: [],
    passes: [],
    conformance: {
      format: 'matrix-pushers-conformance/report/1',
      meta,
      summary: { total: 1, passed: outcome === 'passed' ? 1 : 0, failed: outcome === 'failed' ? 1 : 0, warned: 0, errored: 0, skipped: 0, notrun: 0, xfailed: 0, xpassed: 0, mustFailures: 0, shouldFailures: 0 },
      verdict: { conforms: true, text: 'conforms', must: 0, should: 0, errored: 0 },
      results: [{ id: `v1.case-${text}`, title: `title ${text}`, edition: 'v1', file: 'x.yaml', outcome, requirements: [], tags: [], durationMs: 1, requests: 1, failures: [], warnings: [], exchanges: [] }],
    },
  };
}

/** What a target may put in text: C0 and C1 controls, a terminal escape, bidi and zero-width characters. */
const HOSTILE = 'a\x1b]0;title\x07b\u0085c\u009b31md\u202ee\u200bf\u2066g\ufeffh';

const lines = (text: string): string[] => text.trim().split('\n');

describe('report files and input files', function () {
  this.timeout(120_000);
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'conformance-files-'))));
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('writing', function () {
    it('writes through a temporary file renamed over the path: a reader of the old file keeps it whole, nothing is left beside', function () {
      const path = join(dir, 'r.json');
      writeFileSync(path, 'old report');
      linkSync(path, join(dir, 'old-link'));
      writeReportFile(path, 'new report');
      expect(readFileSync(path, 'utf8')).to.equal('new report');
      // A rename replaces the name, not the file: what an open reader (here, a second link) holds is the old report, whole.
      expect(readFileSync(join(dir, 'old-link'), 'utf8')).to.equal('old report');
      expect(readdirSync(dir).sort()).to.deep.equal(['old-link', 'r.json']);
    });

    it('keeps a symbolic link a link, and writes devices in place (/dev/null)', function () {
      mkdirSync(join(dir, 'real'));
      writeFileSync(join(dir, 'real', 'r.xml'), 'old');
      symlinkSync(join(dir, 'real', 'r.xml'), join(dir, 'link.xml'));
      writeReportFile(join(dir, 'link.xml'), 'new');
      expect(lstatSync(join(dir, 'link.xml')).isSymbolicLink()).to.equal(true);
      expect(readFileSync(join(dir, 'real', 'r.xml'), 'utf8')).to.equal('new');
      writeReportFile('/dev/null', 'anything');
    });
  });

  describe('a run killed mid-way', function () {
    let target: Server | undefined;
    afterEach(async () => {
      target?.closeAllConnections();
      await new Promise<void>((r) => (target ? target.close(() => r()) : r()));
    });

    it('leaves an incomplete report of each format, not the earlier green one', async function () {
      const files = { json: join(dir, 'r.json'), junit: join(dir, 'r.xml'), tap: join(dir, 'r.tap'), html: join(dir, 'r.html'), expectations: join(dir, 'known.yaml') };
      const reporters = ['--reporter', `json:${files.json}`, '--reporter', `junit:${files.junit}`, '--reporter', `tap:${files.tap}`, '--reporter', `html:${files.html}`, '--update-expectations', files.expectations];
      const green = await cli(['--edition', 'v1', '--grep', 'v1.set.valid-pusher', ...reporters], 60_000);
      expect(green.code, green.stderr).to.equal(0);
      expect((JSON.parse(readFileSync(files.json, 'utf8')) as { conformance: { verdict: { conforms: boolean } } }).conformance.verdict.conforms).to.equal(true);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp')), 'no temporary file left').to.deep.equal([]);

      // A target that answers the preflight, then never answers: the run is killed once it has sent its next request.
      let request!: () => void;
      const requested = new Promise<void>((r) => (request = r));
      target = createServer((req, res) => {
        if (req.url === '/_matrix/client/versions') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"versions":["v1.11"]}');
        } else request();
      });
      await new Promise<void>((r) => (target as Server).listen(0, '127.0.0.1', r));
      const child = spawn(process.execPath, [CLI, '--target', `http://127.0.0.1:${((target as Server).address() as AddressInfo).port}`, '--edition', 'v1', ...reporters], { stdio: 'ignore' });
      const ended = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal)));
      await requested;
      child.kill('SIGKILL');
      expect(await ended).to.equal('SIGKILL');

      const json = JSON.parse(readFileSync(files.json, 'utf8')) as { stats: { failures: number }; conformance: { meta: { incomplete?: string }; verdict: { conforms: boolean }; results: Array<{ outcome: string; error?: { code: string } }> } };
      const validate = getValidator('report');
      expect(validate(json), JSON.stringify(validate.errors)).to.equal(true);
      expect(json.conformance.meta.incomplete).to.be.a('string');
      expect(json.conformance.verdict.conforms).to.equal(false);
      expect(json.stats.failures).to.equal(1);
      expect(json.conformance.results.map((r) => r.error?.code)).to.deep.equal(['ERR_RUN_INCOMPLETE']);
      const junit = readFileSync(files.junit, 'utf8');
      expect(junit).to.match(/<testcase [^>]*name="run.incomplete"[^>]*>\s*<error /);
      if (XMLLINT) expectValidJunit(files.junit);
      expect(readFileSync(files.tap, 'utf8')).to.match(/^not ok 1 - run\.incomplete$/m);
      expect(readFileSync(files.html, 'utf8')).to.include('Run incomplete').and.include('ERR_RUN_INCOMPLETE');
      expect(readFileSync(files.expectations, 'utf8')).to.equal(INCOMPLETE_EXPECTATIONS);

      // The incomplete expectations file is no gate; the incomplete report is nothing to compare.
      const gate = await cli(['--edition', 'v1', '--grep', 'v1.set.valid-pusher', '--expectations', files.expectations], 60_000);
      expect(gate.code).to.equal(2);
      expect(lines(gate.stderr)).to.have.length(1);
      expect(gate.stderr).to.include('left incomplete by a run of --update-expectations that did not finish');
      const compared = await cli(['compare', files.json], 30_000);
      expect(compared.code).to.equal(2);
      expect(compared.stderr).to.include('an incomplete report');
    });
  });

  describe('inputs over the size cap, or with too many aliases', function () {
    it('compare /dev/zero: exit 2, one line, read no further than the cap', async function () {
      const r = await cli(['compare', '/dev/zero'], 60_000, {}, ['--max-old-space-size=200']);
      expect(r.code, r.stderr).to.equal(2);
      expect(lines(r.stderr)).to.deep.equal(['conformance: /dev/zero: cannot read a JSON report (over 16 MiB, refused)']);
    });

    it('--expectations /dev/zero and a file over 16 MiB: exit 2, one line, before any request', async function () {
      const big = join(dir, 'big.yaml');
      writeFileSync(big, `# ${'x'.repeat(17 * 1024 * 1024)}\n`);
      for (const f of ['/dev/zero', big]) {
        const r = await cli(['--target', 'http://127.0.0.1:9', '--expectations', f], 60_000, {}, ['--max-old-space-size=200']);
        expect(r.code, r.stderr).to.equal(2);
        expect(lines(r.stderr)).to.deep.equal([`conformance: ${f}: the expectations file is over 16 MiB; refused`]);
      }
    });

    it('an expectations file that is a YAML alias bomb: exit 2, one line', async function () {
      const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)].join('\n');
      const f = join(dir, 'bomb.yaml');
      writeFileSync(f, bomb + '\n');
      const r = await cli(['--target', 'http://127.0.0.1:9', '--expectations', f], 60_000, {}, ['--max-old-space-size=200']);
      expect(r.code, r.stderr).to.equal(2);
      expect(lines(r.stderr)).to.deep.equal([`conformance: ${f}: more YAML aliases than the 16 an expectations file may use; refused`]);
    });
  });

  describe('compare', function () {
    it('escapes what it shows from a report: the Markdown on stdout, the HTML page, the regression lines', async function () {
      const before = join(dir, 'before.json');
      const after = join(dir, 'after.json');
      writeFileSync(before, JSON.stringify(reportWith(HOSTILE)));
      writeFileSync(after, JSON.stringify(reportWith(HOSTILE, 'failed')));
      const page = join(dir, 'c.html');
      const r = await cli(['compare', `${HOSTILE}=${before}`, after, '--html', page, '--fail-on-regression'], 30_000);
      expect(r.code, r.stderr).to.equal(1);
      expectNoRawControls(r.stdout, 'compare stdout');
      expectNoRawControls(r.stderr, 'compare stderr');
      // Escaped for the terminal, then for Markdown (which doubles the backslashes).
      expect(r.stdout).to.include('\\\\x1b\\]0;title\\\\x07b\\\\u0085c\\\\u009b31md\\\\u202ee\\\\u200bf');
      expect(r.stderr).to.include('regression: v1.case-a\\x1b]0;title\\x07b\\u0085c\\u009b31md\\u202ee\\u200bf\\u2066g\\ufeffh was pass, is fail');
      const html = readFileSync(page, 'utf8');
      expectNoRawControls(html, 'compare --html');
      expect(html).to.include('\\u202ee\\u200bf');
    });

    it('--output or --html to a path it cannot write: exit 2, one line', async function () {
      const report = join(dir, 'r.json');
      writeFileSync(report, JSON.stringify(reportWith('x')));
      for (const args of [['--output', join(dir, 'no', 'such', 'dir.md')], ['--html', join(dir, 'no', 'such.html')], ['--output', dir]]) {
        const r = await cli(['compare', report, ...args], 30_000);
        expect(r.code, r.stderr).to.equal(2);
        expect(lines(r.stderr)).to.have.length(1);
        expect(r.stderr).to.match(/^conformance: cannot write .* \((ENOENT|EISDIR)\)\n$/);
      }
    });
  });

  describe('the Server header in an expectations file', function () {
    it('is escaped in its comment for YAML 1.1 readers: NEL, LS, PS and controls end no line', function () {
      const server = 'evil\u0085injected: 1\u2028also: 2\u2029\r\nthird: 3\x1b[2J\u202e';
      const report = { meta: { target: 'http://127.0.0.1:1', server, startedAt: '', finishedAt: '', durationMs: 0 }, results: [{ id: 'v1.x', title: 't', edition: 'v1', file: '', requirements: [], tags: [], outcome: 'failed', failures: [{ requirement: 'v1.r', level: 'MUST', message: `got ${server}` }], warnings: [], durationMs: 0, requests: 0 }] } as unknown as RunReport;
      const { text } = expectationsText(report, false);
      for (const version of ['1.1', '1.2'] as const) expect(Object.keys(parse(text, { version }) as object), `YAML ${version}`).to.deep.equal(['v1.x']);
      expect(text.split('\n')[1]).to.include('evil\\u0085injected: 1\\u2028also: 2\\u2029\\x0d\\x0athird: 3\\x1b[2J\\u202e');
      expect(text).not.to.match(/[\u0085\u2028\u2029\u202e\x1b\r]/);
    });
  });
});
