/**
 * The HTML report opened in a real browser: headless Chromium (Debian's
 * package; CI installs it) loads the page the CLI wrote against broken
 * servers, and the DOM it builds must show the failures (case ids,
 * requirement ids, links to the spec section in the version judged), run no
 * script of the target's, and log nothing to the console (a Content Security
 * Policy violation or a script error would be logged there). One screenshot
 * is kept for a person to look at.
 *
 * Chromium is driven by its command line alone (--dump-dom, --screenshot);
 * each run has its own profile and is killed, with its children, if it does
 * not end within its bound.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BROKEN_ASTRAL, HOSTILE_SERVER, MIXED, MIXED_EXPECTATIONS } from './support/report-servers.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { cliPool, readJsonReport, type JsonReport } from './support/reports.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const NO_CHROMIUM = 'Chromium is not installed (apt-get install chromium): the HTML report was not opened in a browser';
/** Where the screenshot is kept after the run, for a person to look at. */
export const SCREENSHOT = join(tmpdir(), 'conformance-html-report.png');

interface Browsed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Lines Chromium logged for the page's console (messages, errors, CSP violations). */
  console: string[];
}

/** Runs headless Chromium once on a page; kills its whole process group after `timeoutMs`. */
function chromium(page: string, mode: { dumpDom: true } | { screenshot: string }, timeoutMs = 60_000): Promise<Browsed> {
  const profile = mkdtempSync(join(tmpdir(), 'conformance-chromium-'));
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--no-default-browser-check',
    `--user-data-dir=${profile}`,
    '--enable-logging=stderr',
    '--v=0',
    ...('dumpDom' in mode ? ['--dump-dom'] : [`--screenshot=${mode.screenshot}`, '--window-size=1280,2000', '--hide-scrollbars']),
    pathToFileURL(page).href,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM as string, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
      resolve({ code, stdout, stderr, console: stderr.split('\n').filter((l) => /CONSOLE|Uncaught/.test(l)) });
    });
  });
}

const tagCount = (dom: string, tag: string): number => (dom.match(new RegExp(`<${tag}\\b`, 'gi')) ?? []).length;

describe('the HTML report in headless Chromium', function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'conformance-html-'));
  const servers: ProxyServer[] = [];
  const pages: Record<'broken' | 'mixed' | 'hostile', { html: string; json: string; code: number | null }> = {} as never;

  before(async function () {
    if (!CHROMIUM) return;
    const [broken, mixed, hostile] = await Promise.all([BROKEN_ASTRAL, MIXED, HOSTILE_SERVER].map((m) => startProxy(m)));
    servers.push(broken as ProxyServer, mixed as ProxyServer, hostile as ProxyServer);
    const expectations = join(dir, 'known.yaml');
    writeFileSync(expectations, MIXED_EXPECTATIONS);
    const runs: Array<[keyof typeof pages, string[]]> = [
      ['broken', ['--target', (broken as ProxyServer).url, '--edition', 'v1', '--grep', 'outside']],
      ['mixed', ['--target', (mixed as ProxyServer).url, '--strict', '--spec-version', 'v1.1', '--edition', 'v1', '--grep', 'delete', '--expectations', expectations]],
      ['hostile', ['--target', (hostile as ProxyServer).url, '--edition', 'v1', '--grep', 'create']],
    ];
    const pool = cliPool(3);
    await Promise.all(
      runs.map(async ([name, args]) => {
        const html = join(dir, `${name}.html`);
        const json = join(dir, `${name}.json`);
        const r = await pool([...args, '--reporter', `html:${html}`, '--reporter', `json:${json}`]);
        pages[name] = { html, json, code: r.code };
      }),
    );
  });

  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(function () {
    if (!CHROMIUM) {
      if (this.currentTest) this.currentTest.title += ` — SKIPPED: ${NO_CHROMIUM}`;
      this.skip();
    }
  });

  it('the console check can fail: a page with a script error and a blocked image is caught', async function () {
    const page = join(dir, 'control.html');
    writeFileSync(page, `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'"></head><body><p>control</p><img src="https://example.invalid/x.png"><script>console.error('boom'); throw new Error('uncaught-x')</script></body></html>`);
    const b = await chromium(page, { dumpDom: true });
    expect(b.code, b.stderr.slice(-2000)).to.equal(0);
    expect(b.stdout).to.include('<p>control</p>');
    const logged = b.console.join('\n');
    expect(logged).to.include('boom');
    expect(logged).to.include('uncaught-x');
    expect(logged).to.match(/violates the following Content Security Policy/);
  });

  it('shows every failure of a broken server: case ids, requirement ids, spec links; no console errors', async function () {
    for (const name of ['broken', 'mixed'] as const) {
      const report: JsonReport = readJsonReport(pages[name].json);
      expect(pages[name].code, name).to.equal(1);
      const b = await chromium(pages[name].html, { dumpDom: true });
      expect(b.code, b.stderr.slice(-2000)).to.equal(0);
      expect(b.console, `${name}: console lines`).to.deep.equal([]);
      const dom = b.stdout;
      expect(dom, `${name}: the page rendered`).to.include('<h1>Matrix pushers conformance</h1>');
      expect(tagCount(dom, 'script'), 'no script in the page').to.equal(0);
      expect(dom).to.include(report.conformance.verdict.text).and.include('DOES NOT CONFORM');
      const problems = report.conformance.results.filter((r) => r.failures.length || r.warnings.length || r.error || r.outcome === 'xfailed');
      expect(problems.length, `${name}: the run has failures to show`).to.be.greaterThan(1);
      for (const r of problems) {
        expect(dom, `${name}: ${r.id}`).to.include(`<code>${r.id}</code>`);
        for (const f of [...r.failures, ...r.warnings]) {
          expect(dom, `${name} ${r.id}: requirement ${f.requirement}`).to.include(`<code>${f.requirement}</code>`);
          expect(dom, `${name} ${r.id}: a link to ${f.link}`).to.include(`<a href="${f.link}" rel="noreferrer noopener">spec section</a>`);
          expect(f.link, 'the link names the version judged').to.match(/^https:\/\/spec\.matrix\.org\/v1\.\d+\//);
        }
        if (r.error) expect(dom, `${name} ${r.id}: the error`).to.include(r.error.code);
        // What counts against the target is open (a SHOULD failure too, under --strict); the rest is a click away.
        const counted = r.outcome === 'failed' || r.outcome === 'errored' || r.outcome === 'xpassed' || (report.conformance.meta.strict && r.outcome === 'warned');
        expect(dom.includes(`<details open=""><summary><code>${r.id}</code>`), `${name} ${r.id} (${r.outcome}): its details are ${counted ? 'open' : 'closed'}`).to.equal(counted);
      }
      for (const r of report.conformance.results.filter((x) => x.outcome === 'skipped')) expect(dom, `${name} ${r.id}: the skip reason`).to.include(r.skip?.reason as string);
      const count = (o: string): number => report.conformance.results.filter((r) => r.outcome === o).length;
      for (const o of ['passed', 'failed', 'warned', 'errored', 'skipped', 'xfailed']) expect(dom, `${name}: the ${o} total`).to.include(`<div><b>${count(o)}</b>${o}</div>`);
    }
  });

  it('runs nothing the target sent: its markup stays text', async function () {
    readJsonReport(pages.hostile.json);
    const b = await chromium(pages.hostile.html, { dumpDom: true });
    expect(b.code, b.stderr.slice(-2000)).to.equal(0);
    expect(b.console, 'console lines (a script or a blocked resource would log one)').to.deep.equal([]);
    const dom = b.stdout;
    expect(tagCount(dom, 'script')).to.equal(0);
    expect(dom).to.not.match(/<b>bold<\/b>/);
    expect(dom).to.include('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(dom).to.include('\\x1b]0;pwned-title\\x07');
    expect(dom).to.include('<code>v1.set.valid-pusher</code>');
  });

  it('takes a screenshot of the page (kept for a person to look at)', async function () {
    const shot = join(dir, 'report.png');
    const b = await chromium(pages.mixed.html, { screenshot: shot });
    expect(b.code, b.stderr.slice(-2000)).to.equal(0);
    expect(existsSync(shot), 'the screenshot was written').to.equal(true);
    const png = readFileSync(shot);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG').to.equal(true);
    expect(png.readUInt32BE(16), 'width').to.equal(1280);
    expect(png.readUInt32BE(20), 'height').to.equal(2000);
    // A blank page compresses to a few KB; a rendered report does not.
    expect(statSync(shot).size, 'the page has content').to.be.greaterThan(30_000);
    copyFileSync(shot, SCREENSHOT);
    if (this.test) this.test.title += ` → ${SCREENSHOT}`;
  });
});
