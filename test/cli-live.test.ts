/**
 * The run as people watch it: the header before the first request, each
 * case's line as it finishes (on a pipe as on a TTY), and an interruption
 * (SIGINT, SIGTERM) that stops new cases, writes every requested report with
 * the finished cases, lists the rest as not run, and exits 130.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getValidator } from '../src/schemas.js';
import { CLI } from './support/cli.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';

interface Live {
  /** performance.now() when each stdout line arrived (the clock of this process, as the proxy's). */
  lines: Array<{ at: number; text: string }>;
  /** performance.now() when the process was spawned. */
  started: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  elapsedMs: number;
}

/** Spawns the CLI with stdout on a pipe; `onLine` may signal it. Killed at `killMs` at the latest. */
function spawnLive(args: string[], onLine: (text: string, kill: (s: NodeJS.Signals) => void) => void, killMs: number): Promise<Live> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Live['lines'] = [];
    let buffer = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const text = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push({ at: performance.now(), text });
        onLine(text, (s) => child.kill(s));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ lines, started, code, signal, stderr, elapsedMs: performance.now() - started });
    });
  });
}

describe('the run, live', function () {
  this.timeout(120_000);
  let slow: ProxyServer;
  /** performance.now() of each request the slow target received. */
  const arrivals: number[] = [];
  before(async function () {
    // 150 ms per answer: the v1 edition takes several seconds even with 16 cases at once.
    slow = await startProxy({
      name: 'slow',
      onRequest: () => void arrivals.push(performance.now()),
      onResponse: async () => void (await new Promise((r) => setTimeout(r, 150))),
    });
  });
  after(async function () {
    await slow.close();
  });

  it('prints the header at once and each case as it finishes, long before the run ends, on a pipe', async function () {
    arrivals.length = 0;
    const live = await spawnLive(['--target', slow.url, '--edition', 'v1', '--jobs', '4', '--no-delivery'], () => undefined, 110_000);
    expect(live.code, live.stderr).to.equal(0);
    const header = live.lines.find((l) => l.text.startsWith('target:'));
    const firstCase = live.lines.find((l) => /^\[ *1\/\d+\] /.test(l.text));
    const last = live.lines[live.lines.length - 1] as { at: number };
    expect(header, 'a header line').not.to.equal(undefined);
    expect(firstCase, 'a first case line').not.to.equal(undefined);
    expect((header as { at: number }).at, 'the header is printed before the first request reaches the target').to.be.below(arrivals[0] as number);
    expect((firstCase as { at: number }).at - live.started, 'the first case line comes long before the end').to.be.below((last.at - live.started) / 2);
    // No status line on a pipe: it would leave carriage returns in the output.
    expect(live.lines.some((l) => l.text.includes('\r') || l.text.includes('\x1b'))).to.equal(false);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} stops the run, writes valid partial reports and exits 130`, async function () {
      const dir = mkdtempSync(join(tmpdir(), 'conformance-signal-'));
      const files = { json: join(dir, 'r.json'), junit: join(dir, 'r.xml'), tap: join(dir, 'r.tap'), html: join(dir, 'r.html') };
      let sent = false;
      const live = await spawnLive(
        ['--target', slow.url, '--edition', 'v1', '--jobs', '2', '--reporter', 'spec', '--reporter', `json:${files.json}`, '--reporter', `junit:${files.junit}`, '--reporter', `tap:${files.tap}`, '--reporter', `html:${files.html}`],
        (text, kill) => {
          // After the third finished case.
          if (!sent && /^\[ *3\/\d+\] /.test(text)) {
            sent = true;
            kill(signal);
          }
        },
        110_000,
      );
      expect(sent, 'the signal was sent').to.equal(true);
      expect(live.code, live.stderr).to.equal(130);
      for (const f of Object.values(files)) expect(existsSync(f), f).to.equal(true);
      const report = JSON.parse(readFileSync(files.json, 'utf8')) as { conformance: { meta: { interrupted?: boolean }; results: Array<{ outcome: string }> } };
      const validate = getValidator('report');
      expect(validate(report), JSON.stringify(validate.errors)).to.equal(true);
      expect(report.conformance.meta.interrupted).to.equal(true);
      const outcomes = report.conformance.results.map((r) => r.outcome);
      // The cases that may wait longest start first: here the delivery cases, skipped (the target refuses the gateway's http:// URL).
      expect(outcomes.filter((o) => o !== 'notrun').length, 'the finished cases are kept').to.be.at.least(3);
      expect(outcomes.filter((o) => o === 'notrun').length, 'the rest are listed as not run').to.be.greaterThan(10);
      expect(readFileSync(files.tap, 'utf8')).to.match(/^TAP version 13\n1\.\.\d+\n/);
      expect(readFileSync(files.junit, 'utf8')).to.match(/<testsuites [^>]*>[\s\S]*<\/testsuites>\n$/);
      expect(readFileSync(files.html, 'utf8')).to.include('interrupted');
      expect(live.lines.map((l) => l.text).join('\n')).to.include('interrupted: the run was stopped');
    });
  }
});
