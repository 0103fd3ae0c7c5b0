/**
 * Checks shared by the tests that read the reports the CLI writes: every JSON
 * report against spec/report.schema.json, JUnit against the structure of the
 * xunit plugin's junit-10.xsd (with xmllint), TAP line by line, and text for
 * control characters.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describeErrors, getValidator } from '../../src/schemas.js';
import { escapeForTerminal } from '../../src/text.js';
import { CLI } from './cli.js';

/** The schema the JUnit files are checked against (this project's restatement of junit-10.xsd). */
export const JUNIT_XSD = fileURLToPath(new URL('../../../test/support/junit-10.xsd', import.meta.url));

/** xmllint from Debian's libxml2-utils, or undefined when it is not installed. */
export const XMLLINT: string | undefined = ['/usr/bin/xmllint', '/usr/local/bin/xmllint'].find((p) => existsSync(p)) ?? (spawnSync('xmllint', ['--version']).error ? undefined : 'xmllint');
export const NO_XMLLINT = 'xmllint is not installed (apt-get install libxml2-utils): JUnit and XML checks skipped';

/** Skips the running test (with the reason in its title) when xmllint is absent. */
export function needXmllint(ctx: Mocha.Context): string {
  if (!XMLLINT) {
    ctx.test && (ctx.test.title += ` — SKIPPED: ${NO_XMLLINT}`);
    ctx.skip();
  }
  return XMLLINT as string;
}

/** Runs xmllint on a file: well-formedness, or validity against `schema` too. */
export function xmllint(file: string, options: { schema?: string; html?: boolean } = {}): { ok: boolean; stderr: string } {
  if (!XMLLINT) throw new Error(NO_XMLLINT);
  const args = ['--noout', ...(options.html ? ['--html'] : []), ...(options.schema ? ['--schema', options.schema] : []), file];
  const r = spawnSync(XMLLINT, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Asserts that a JUnit file is valid against test/support/junit-10.xsd. */
export function expectValidJunit(file: string): void {
  const r = xmllint(file, { schema: JUNIT_XSD });
  expect(r.ok, `${file} is not valid against junit-10.xsd:\n${r.stderr}`).to.equal(true);
}

export interface JsonFailure {
  requirement: string;
  level: 'MUST' | 'SHOULD';
  link: string;
  versions: string;
  quote: string;
  check: string;
  expected: unknown;
  actual: unknown;
  message: string;
  step: number;
  stepTitle: string;
  source: string;
}

export interface JsonExchange {
  step: number;
  direction: 'to-target' | 'from-target';
  atMs: number;
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string; truncated: boolean; bodyCut?: boolean };
  curl?: string;
}

export interface JsonResult {
  id: string;
  title: string;
  edition: string;
  outcome: string;
  requirements: string[];
  failures: JsonFailure[];
  warnings: JsonFailure[];
  error?: { code: string; message: string; step?: number };
  skip?: { code: string; reason: string };
  expectation?: { reason: string; file: string; requirements?: string[]; error?: string; matched?: boolean; mismatch?: string };
  flaky?: string[];
  exchanges: JsonExchange[];
}

export interface JsonReport {
  stats: { tests: number; passes: number; pending: number; failures: number };
  tests: Array<{ title: string }>;
  failures: Array<{ title: string; err: { message?: string; code?: string } }>;
  conformance: {
    format: string;
    meta: Record<string, unknown> & { editions: string[]; strict: boolean; expectations?: string; repeat?: number };
    summary: Record<string, number>;
    verdict: { conforms: boolean; judged?: boolean; text: string };
    areas?: Array<{ edition: string; area: string; title: string; cases: number; judged: number; leftOut: number; notJudged: number; notServed: number; reason?: string }>;
    gate?: { passed: boolean; text: string; why: Array<{ id: string; reason: string }>; notes?: Array<{ id: string; note: string }> };
    results: JsonResult[];
  };
}

/** Every JSON report a test reads, so the end of the run can say how many were validated. */
export const validatedJsonReports: string[] = [];

/** Parses a JSON report and asserts it is valid against spec/report.schema.json. */
export function readJsonReport(file: string): JsonReport {
  const text = readFileSync(file, 'utf8');
  return checkJsonReport(text, file);
}

export function checkJsonReport(text: string, label: string): JsonReport {
  const report = JSON.parse(text) as unknown;
  const validate = getValidator('report');
  const ok = validate(report);
  expect(ok, `${label} is not valid against spec/report.schema.json: ${describeErrors(validate.errors).join('; ')}`).to.equal(true);
  validatedJsonReports.push(label);
  return report as JsonReport;
}

/** Code points no output may carry raw: C0 controls but tab, LF and CR; DEL; C1 controls. */
export const RAW_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;
/** The same, CR included: for outputs whose lines a consumer splits (TAP, terminal). */
export const RAW_CONTROL_OR_CR = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

/** Asserts that `text` holds no raw control character (`label` names the output), showing where one is. */
export function expectNoRawControls(text: string, label: string, pattern: RegExp = RAW_CONTROL_OR_CR): void {
  const m = pattern.exec(text);
  expect(m === null, m ? `${label}: raw U+${(m[0].codePointAt(0) as number).toString(16).padStart(4, '0')} at ${m.index}: ${escapeForTerminal(text.slice(Math.max(0, m.index - 60), m.index + 20))}` : '').to.equal(true);
}

/** Asserts that bytes decode as UTF-8 without a replacement, and returns the text. */
export function utf8(bytes: Buffer, label: string): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  expect(Buffer.from(text, 'utf8').equals(bytes), `${label} is not valid UTF-8`).to.equal(true);
  return text;
}

/** Whether a string holds a lone surrogate (half of a pair, alone). */
export function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** A line of a YAML block as tap.ts writes it: `key: value`, `key:`, `- key: value` or `- value`, values on one line. */
const BLOCK_LINE = /^(?: {2})*(?:- )?(?:[A-Za-z_][A-Za-z0-9_]*:(?: .+)?|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null|true|false)$/;

export interface TapPoint {
  ok: boolean;
  n: number;
  id: string;
  directive?: { kind: 'SKIP' | 'TODO'; reason: string };
  /** The parsed YAML diagnostics block that follows the point, if any. */
  block?: Record<string, unknown>;
}

/**
 * Reads a TAP 13 stream strictly: the version line, then the plan, then test
 * points (each maybe followed by one YAML block indented two spaces between
 * `  ---` and `  ...`) and `# ` comments. Any other line, a raw control
 * character or a CR fails the test: it would be something the target sent.
 */
export function parseTap(text: string, label: string): { plan: number; points: TapPoint[]; comments: string[] } {
  expectNoRawControls(text, label);
  const lines = text.split('\n');
  expect(lines.pop(), `${label} ends with a newline`).to.equal('');
  expect(lines[0], `${label}: first line`).to.equal('TAP version 13');
  const planMatch = /^1\.\.(\d+)$/.exec(lines[1] ?? '');
  expect(planMatch, `${label}: the plan is the second line, got ${JSON.stringify(lines[1])}`).to.not.equal(null);
  const plan = Number(planMatch?.[1]);
  const points: TapPoint[] = [];
  const comments: string[] = [];
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i] as string;
    const point = /^(not ok|ok) (\d+) - ([a-z0-9][a-z0-9.-]*)(?: # (SKIP|TODO) (.*))?$/.exec(line);
    if (point) {
      points.push({ ok: point[1] === 'ok', n: Number(point[2]), id: point[3] as string, ...(point[4] ? { directive: { kind: point[4] as 'SKIP' | 'TODO', reason: point[5] as string } } : {}) });
      continue;
    }
    if (line.startsWith('# ')) {
      comments.push(line.slice(2));
      continue;
    }
    if (line === '  ---') {
      const last = points[points.length - 1];
      expect(last, `${label}:${i + 1}: a YAML block before any test point`).to.not.equal(undefined);
      expect(last?.block, `${label}:${i + 1}: a second YAML block for test point ${last?.n}`).to.equal(undefined);
      const body: string[] = [];
      i++;
      for (; i < lines.length && lines[i] !== '  ...'; i++) {
        const l = lines[i] as string;
        expect(l.startsWith('  '), `${label}:${i + 1}: a block line not indented: ${JSON.stringify(l.slice(0, 80))}`).to.equal(true);
        // Each line is a key or a list item: a string never spans lines, so nothing in one can look like a line of its own.
        expect(BLOCK_LINE.test(l.slice(2)), `${label}:${i + 1}: not a key or a list item: ${JSON.stringify(l.slice(0, 120))}`).to.equal(true);
        body.push(l.slice(2));
      }
      expect(lines[i], `${label}: a YAML block that never ends`).to.equal('  ...');
      const parsed = parseYaml(body.join('\n'), { uniqueKeys: true }) as unknown;
      expect(parsed, `${label}: block of test point ${last?.n} is a mapping`).to.be.an('object');
      (last as TapPoint).block = parsed as Record<string, unknown>;
      continue;
    }
    expect.fail(`${label}:${i + 1}: not a TAP line: ${JSON.stringify(line.slice(0, 120))}`);
  }
  expect(points.map((p) => p.n), `${label}: test points numbered 1..${plan}`).to.deep.equal(Array.from({ length: plan }, (_, k) => k + 1));
  return { plan, points, comments };
}

export interface JunitCase {
  name: string;
  classname: string;
  kinds: string[];
  /** The attributes of the first <failure>, <error> or <skipped>. */
  outcome?: { kind: string; type?: string; message?: string; text: string };
  systemOut?: string;
}

export interface JunitSuite {
  attrs: Record<string, string>;
  properties: Record<string, string>;
  cases: JunitCase[];
}

const decodeXml = (s: string): string => s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] as string);
const attrsOf = (tag: string): Record<string, string> => Object.fromEntries([...tag.matchAll(/([\w.-]+)="([^"]*)"/g)].map((m) => [m[1] as string, decodeXml(m[2] as string)]));

/**
 * Reads the testsuites, testcases and outcomes of a JUnit file as this
 * project writes it (one element per line start). Structure is xmllint's job;
 * this reads what the counts and names are checked against.
 */
export function readJunit(xml: string): { root: Record<string, string>; suites: JunitSuite[] } {
  const root = attrsOf(/<testsuites\b[^>]*>/.exec(xml)?.[0] ?? '');
  const suites: JunitSuite[] = [];
  for (const s of xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g)) {
    const inner = s[2] as string;
    const properties = Object.fromEntries([...inner.matchAll(/<property name="([^"]*)" value="([^"]*)"\/>/g)].map((m) => [decodeXml(m[1] as string), decodeXml(m[2] as string)]));
    const cases: JunitCase[] = [];
    for (const c of inner.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const a = attrsOf(c[1] as string);
      const body = c[2] ?? '';
      const kinds = [...body.matchAll(/<(failure|error|skipped|system-out|system-err)\b/g)].map((m) => m[1] as string);
      const first = /<(failure|error|skipped)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
      const out = /<system-out>([\s\S]*?)<\/system-out>/.exec(body);
      const fa = first ? attrsOf(first[2] as string) : {};
      cases.push({
        name: a['name'] as string,
        classname: a['classname'] as string,
        kinds,
        ...(first ? { outcome: { kind: first[1] as string, ...(fa['type'] !== undefined ? { type: fa['type'] } : {}), ...(fa['message'] !== undefined ? { message: fa['message'] } : {}), text: decodeXml(first[3] ?? '') } } : {}),
        ...(out ? { systemOut: decodeXml(out[1] as string) } : {}),
      });
    }
    suites.push({ attrs: attrsOf(`<testsuite${s[1] as string}>`), properties, cases });
  }
  return { root, suites };
}

/** Reporter flags that write every file format into `dir` as r.json, r.xml, r.tap, r.html (and `spec` to stdout). */
export function allReporters(dir: string, stdout = 'spec'): string[] {
  const files: Record<string, string> = { json: `${dir}/r.json`, junit: `${dir}/r.xml`, tap: `${dir}/r.tap`, html: `${dir}/r.html` };
  const args = ['--reporter', stdout];
  for (const [name, file] of Object.entries(files)) if (name !== stdout) args.push('--reporter', `${name}:${file}`);
  return args;
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr decoded whole (never chunk by chunk, which could split a character). */
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
  elapsedMs: number;
}

/** Spawns the built CLI and keeps its output as bytes; kills it after `timeoutMs`. */
export function runCli(args: readonly string[], timeoutMs = 90_000, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stderrBytes = Buffer.concat(err);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: stderrBytes.toString('utf8'), stdoutBytes, stderrBytes, elapsedMs: performance.now() - started });
    });
  });
}

/** Runs at most `n` CLI invocations at once (the machine has two cores); the rest wait their turn. */
export function cliPool(n: number): (args: readonly string[], timeoutMs?: number) => Promise<Ran> {
  let running = 0;
  const queue: Array<() => void> = [];
  return async (args, timeoutMs = 90_000) => {
    while (running >= n) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
    try {
      return await runCli(args, timeoutMs);
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}
