/**
 * The HTML report opened in a real browser: headless Chromium (Debian's
 * package; CI installs it) loads the page the CLI wrote against broken
 * servers, and the DOM it builds must show the failures (case ids,
 * requirement ids, links to the spec section in the version judged), run no
 * script of the target's, and log nothing to the console (a Content Security
 * Policy violation or a script error would be logged there). One screenshot
 * is kept for a person to look at.
 *
 * Chromium is driven by its command line (--dump-dom) to read the DOM the
 * page builds, and over the DevTools protocol (support/cdp.ts) to click the
 * count tiles, type into the filter and count the rows left visible; each run
 * has its own profile and is killed, with its children, if it does not end
 * within its bound. The screenshot is written to test-artifacts/ at the root
 * of the checkout (ignored by git).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SCRIPT_HASH } from '../src/report/html.js';
import { openPage, type Page } from './support/cdp.js';
import { BROKEN_ASTRAL, HOSTILE_SERVER, MIXED, MIXED_EXPECTATIONS } from './support/report-servers.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { cliPool, readJsonReport, type JsonReport } from './support/reports.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const NO_CHROMIUM = 'Chromium is not installed (apt-get install chromium): the HTML report was not opened in a browser';
/** Where the screenshot is kept after the run, for a person to look at: test-artifacts/ at the root of the checkout. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
export const SCREENSHOT = join(ARTIFACTS, 'html-report.png');

interface Browsed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Lines Chromium logged for the page's console (messages, errors, CSP violations). */
  console: string[];
}

/** Runs headless Chromium once on a page; kills its whole process group after `timeoutMs`. */
function chromium(page: string, timeoutMs = 60_000): Promise<Browsed> {
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
    '--dump-dom',
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
    const b = await chromium(page);
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
      const b = await chromium(pages[name].html);
      expect(b.code, b.stderr.slice(-2000)).to.equal(0);
      expect(b.console, `${name}: console lines`).to.deep.equal([]);
      const dom = b.stdout;
      expect(dom, `${name}: the page rendered`).to.include('<h1>Matrix pushers conformance</h1>');
      expect(tagCount(dom, 'script'), 'one script in the page, its own').to.equal(1);
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
      for (const o of ['passed', 'failed', 'warned', 'errored', 'skipped', 'xfailed']) expect(dom, `${name}: the ${o} total`).to.match(new RegExp(`<button [^>]*data-outcome="${o}"[^>]*><b>${count(o)}</b>${o}</button>`));
    }
  });

  it('runs nothing the target sent: its markup stays text', async function () {
    readJsonReport(pages.hostile.json);
    const b = await chromium(pages.hostile.html);
    expect(b.code, b.stderr.slice(-2000)).to.equal(0);
    expect(b.console, 'console lines (a script or a blocked resource would log one)').to.deep.equal([]);
    const dom = b.stdout;
    expect(tagCount(dom, 'script'), "the page's own script alone").to.equal(1);
    expect(dom).to.not.match(/<b>bold<\/b>/);
    expect(dom).to.include('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(dom).to.include('\\x1b]0;pwned-title\\x07');
    expect(dom).to.include('<code>v1.set.valid-pusher</code>');
  });

  describe('worked in, in the browser', function () {
    let page: Page | undefined;
    let report: JsonReport;
    const visible = (): Promise<Array<{ id: string; outcome: string }>> => (page as Page).evaluate(`[...document.querySelectorAll('tr[data-outcome]')].filter((r) => r.offsetParent !== null).map((r) => ({ id: r.querySelector('code').textContent, outcome: r.dataset.outcome }))`);
    const tiles = (): Promise<Record<string, number>> => (page as Page).evaluate(`Object.fromEntries([...document.querySelectorAll('button[data-outcome]')].map((b) => [b.dataset.outcome, Number(b.querySelector('b').textContent)]))`);

    before(async function () {
      if (!CHROMIUM) return;
      report = readJsonReport(pages.mixed.json);
      page = await openPage(CHROMIUM, pages.mixed.html);
    });
    after(async function () {
      await page?.close();
    });

    it('lists failures first, grouped by requirement, backticks set as code, across the full width', async function () {
      const p = page as Page;
      const order = (await visible()).map((r) => r.outcome);
      expect(order.length).to.equal(report.conformance.results.length);
      expect(order.indexOf('passed'), 'passes come last').to.be.greaterThan(Math.max(order.lastIndexOf('failed'), order.lastIndexOf('errored'), order.lastIndexOf('warned')));
      const groups = await p.evaluate<string[]>(`[...document.querySelectorAll('h2 + .req, .req')].filter((d) => !d.closest('tr')).map((d) => d.querySelector('code').textContent)`);
      const failing = new Set(report.conformance.results.filter((r) => r.outcome !== 'xfailed').flatMap((r) => [...r.failures, ...r.warnings].map((f) => f.requirement)));
      expect(new Set(groups), 'one group per requirement failed').to.deep.equal(failing);
      expect(await p.evaluate<number>(`document.querySelectorAll('blockquote code').length`), 'inline code in the statements').to.be.greaterThan(0);
      expect(await p.evaluate<boolean>(`[...document.querySelectorAll('blockquote')].every((b) => !b.textContent.includes('\`'))`), 'no backtick left raw in a statement').to.equal(true);
      expect(await p.evaluate<number>(`document.querySelector('table').getBoundingClientRect().width / innerWidth`), 'the table spans the page').to.be.greaterThan(0.9);
      expect(p.logged, 'console lines').to.deep.equal([]);
    });

    it('a click on a count tile shows that outcome alone, a second click all; typed text leaves the rows that hold it and the tiles count them', async function () {
      const p = page as Page;
      const all = report.conformance.results;
      const count = (o: string): number => all.filter((r) => r.outcome === o).length;
      expect((await visible()).length).to.equal(all.length);
      const outcomes = [...new Set(all.map((r) => r.outcome))];
      expect(outcomes.length, 'the run has cases of several outcomes').to.be.at.least(4);
      for (const o of outcomes) {
        await p.click(`button[data-outcome=${o}]`);
        const rows = await visible();
        expect(rows.length, `after a click on ${o}`).to.equal(count(o));
        expect(rows.every((r) => r.outcome === o)).to.equal(true);
        await p.click(`button[data-outcome=${o}]`);
        expect((await visible()).length, `after a second click on ${o}`).to.equal(all.length);
      }
      const target = all.find((r) => r.outcome === 'errored') as (typeof all)[number];
      await p.click('#filter-text');
      await p.type(target.id);
      expect((await visible()).map((r) => r.id), `the text ${target.id}`).to.deep.equal([target.id]);
      expect(await tiles(), 'the tiles count what the text leaves').to.deep.include({ errored: 1, failed: 0, warned: 0, passed: 0, skipped: 0 });
      expect(await p.evaluate<string>(`document.getElementById('shown').textContent`)).to.equal(`1 of ${all.length} cases shown`);
      await p.click('button[data-outcome=passed]');
      expect(await visible(), 'outcome and text together').to.deep.equal([]);
      expect(p.logged, 'console lines').to.deep.equal([]);
    });

    it('runs its script only by the hash in its policy: the same page with the script changed runs nothing, and says so', async function () {
      const html = readFileSync(pages.mixed.html, 'utf8');
      expect(html).to.include(`script-src '${SCRIPT_HASH}'`);
      const changed = join(dir, 'changed-script.html');
      writeFileSync(changed, html.replace('<script>(() => {', '<script>(() => { ;'));
      const other = await openPage(CHROMIUM as string, changed);
      try {
        expect(await other.evaluate<string>(`document.getElementById('shown').textContent`), 'the script did not run').to.equal(`${report.conformance.results.length} cases`);
        expect(other.logged.join('\n')).to.match(/Content Security Policy/);
      } finally {
        await other.close();
      }
    });

    it('takes a screenshot of the page, kept in test-artifacts/ for a person to look at', async function () {
      const p = page as Page;
      // Every row again: the filters the tests before set are cleared.
      await p.evaluate(`(() => { document.querySelector('button[aria-pressed=true]')?.click(); const box = document.getElementById('filter-text'); box.value = ''; box.dispatchEvent(new Event('input')); })()`);
      expect((await visible()).length).to.equal(report.conformance.results.length);
      const png = await p.screenshot();
      expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG').to.equal(true);
      expect(png.readUInt32BE(16), 'width').to.equal(1280);
      expect(png.readUInt32BE(20), 'height').to.equal(2000);
      // A blank page compresses to a few KB; a rendered report does not.
      expect(png.length, 'the page has content').to.be.greaterThan(30_000);
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(SCREENSHOT, png);
      if (this.test) this.test.title += ` → ${SCREENSHOT}`;
    });
  });
});
