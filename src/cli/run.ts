/**
 * `conformance run` (the default command) and `conformance list`: the
 * option values turned into the library's run options, every problem of a
 * command line collected at once.
 */
import { DEFAULT_JOBS } from '../run/runner.js';
import { gatewayService } from '../areas/delivery/gateway/index.js';
import { editionIds } from '../spec/requirements.js';
import { loadEditions } from '../spec/editions.js';
import { escapeForTerminal } from '../text.js';
import { noCaseMatches, runAndReport, type ConformanceOptions, type ReportRequest } from '../conformance.js';
import { plan, selectCases } from '../run/runner.js';
import { loadSuite } from '../run/suite.js';
import { allKinds } from '../kinds.js';
import type { ServiceSpec } from '../service.js';
import type { Credential } from '../run/users.js';
import { UsageError } from '../errors.js';
import type { Io } from './io.js';

/** The bundled server's retry back-off in the embedded run: the same doubling as its default (0.5 to 4 s), five times sooner. */
const EMBEDDED_RETRY_DELAYS_MS = [100, 200, 400, 800];

/** What `run` and `list` need of the option values, checked. */
export interface RunSettings {
  target?: string;
  edition?: 'draft' | 'v1' | 'all';
  specVersion?: string;
  strict: boolean;
  reports: ReportRequest[];
  grep?: string;
  jobs: number;
  timeout: number;
  rateLimitBudget: number;
  repeat: number;
  expectations?: string;
  updateExpectations?: string;
  trace?: string;
  followRedirects: boolean;
  cases?: string;
  delivery: boolean;
  gateway: { url?: string; listen?: string; tls: boolean; certFile?: string; keyFile?: string; quietPeriodMs?: number; retryWindowMs?: number };
  registrationToken?: string;
  credentials: Credential[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Turns the parsed values into settings; every problem is collected, then thrown as one UsageError. */
export function runSettings(values: Record<string, unknown>, command: 'run' | 'list'): RunSettings {
  const problems: string[] = [];
  const reports: ReportRequest[] = [...((values['reporter'] as ReportRequest[] | undefined) ?? [])];
  if (command === 'run') {
    if (reports.length === 0) reports.push({ name: 'spec' });
    const unnamed = reports.filter((r) => r.file === undefined);
    const output = str(values['output']);
    if (output !== undefined) {
      if (unnamed.length === 1) (unnamed[0] as ReportRequest).file = output;
      else problems.push('--output names the file of one reporter; with several, use --reporter NAME:FILE');
    } else if (unnamed.length > 1) problems.push('only one reporter can write to stdout; give the others a file with --reporter NAME:FILE');
  }
  const credentials: Credential[] = [...((values['user'] as Credential[] | undefined) ?? []), ...((values['access-token'] as string[] | undefined) ?? []).map((token): Credential => ({ kind: 'token', token }))];
  const target = str(values['target']);
  const registrationToken = str(values['registration-token']);
  if (registrationToken && credentials.length) problems.push('--registration-token registers users; --user and --access-token give them: choose one way');
  if ((registrationToken || credentials.length) && !target) problems.push('--registration-token, --user and --access-token need --target');
  const edition = str(values['edition']) as RunSettings['edition'];
  const specVersion = str(values['spec-version']);
  if (specVersion && edition === 'draft') problems.push('--spec-version is for the v1 edition; the draft has one version');
  const certFile = str(values['gateway-cert']);
  const keyFile = str(values['gateway-key']);
  if ((certFile === undefined) !== (keyFile === undefined)) problems.push('--gateway-cert and --gateway-key go together: a certificate and its key');
  if (problems.length) throw new UsageError(problems);
  return {
    ...(target ? { target } : {}),
    ...(edition ? { edition } : {}),
    ...(specVersion ? { specVersion } : {}),
    strict: values['strict'] === true,
    reports,
    ...(str(values['grep']) !== undefined ? { grep: str(values['grep']) as string } : {}),
    jobs: (values['jobs'] as number | undefined) ?? DEFAULT_JOBS,
    timeout: (values['timeout'] as number | undefined) ?? 10_000,
    rateLimitBudget: (values['rate-limit-budget'] as number | undefined) ?? 60_000,
    repeat: (values['repeat'] as number | undefined) ?? 1,
    ...(str(values['expectations']) ? { expectations: str(values['expectations']) as string } : {}),
    ...(str(values['update-expectations']) ? { updateExpectations: str(values['update-expectations']) as string } : {}),
    ...(str(values['trace']) ? { trace: str(values['trace']) as string } : {}),
    followRedirects: values['follow-redirects'] === true,
    ...(str(values['cases']) ? { cases: str(values['cases']) as string } : {}),
    delivery: values['no-delivery'] !== true,
    gateway: {
      tls: values['gateway-tls'] === true,
      ...(str(values['gateway-url']) ? { url: str(values['gateway-url']) as string } : {}),
      ...(str(values['gateway-listen']) ? { listen: str(values['gateway-listen']) as string } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
      ...(values['quiet-period'] !== undefined ? { quietPeriodMs: values['quiet-period'] as number } : {}),
      ...(values['retry-window'] !== undefined ? { retryWindowMs: values['retry-window'] as number } : {}),
    },
    ...(registrationToken ? { registrationToken } : {}),
    credentials,
  };
}

/** The services a run offers its cases: the mock push gateway, or why it cannot be offered. */
function servicesFor(s: RunSettings, target: string, embedded: boolean): Map<string, ServiceSpec> {
  // The bundled server follows the spec and refuses http:// gateways: the embedded run offers the gateway over TLS from the start.
  return new Map([['gateway', gatewayService(target, { off: !s.delivery, ...s.gateway, tls: s.gateway.tls || embedded })]]);
}

function editionsFor(s: RunSettings, embedded: boolean): readonly string[] | 'auto' {
  if (s.edition === 'all' || (embedded && s.edition === undefined)) return editionIds();
  if (s.edition) return [s.edition];
  return 'auto';
}

/** The bundled reference server, loaded only when a command starts it (a run against a target does not). */
export async function startReferenceServer(options: import('../../reference-server/index.js').ReferenceServerOptions): Promise<import('../../reference-server/index.js').RunningServer> {
  return (await import('../../reference-server/index.js')).createServer(options);
}

/**
 * What the bundled server is told to advertise: the last r0 and every v1
 * version of spec/editions.yaml, as it would by itself (read here, where the
 * runner has them already); up to `specVersion` when the run is judged by an
 * older one, whose push rules it then follows.
 */
export function advertisedVersions(specVersion?: string): string[] {
  return specVersion ? versionsUpTo(specVersion) : ['r0.6.1', ...(loadEditions().get('v1')?.versions ?? [])];
}

function versionsUpTo(version: string): string[] {
  const n = Number(version.replace(/^v1\./, ''));
  return ['r0.6.1', ...Array.from({ length: n }, (_, i) => `v1.${i + 1}`)];
}

/** `conformance run`: against the target, or the bundled server started for the run. */
export async function runCommand(s: RunSettings, io: Io): Promise<number> {
  const embedded = s.target === undefined;
  const editions = editionsFor(s, embedded);
  // Embedded, the gateway's certificate is made for the run: the bundled server is told not to verify it, as a test setup of Dendrite would be.
  // Its retries come sooner than a deployed server's would: the embedded run judges them, and waits for them.
  const server = embedded ? await startReferenceServer({ port: 0, host: '127.0.0.1', pushTlsVerify: false, pushRetryDelaysMs: EMBEDDED_RETRY_DELAYS_MS, versions: advertisedVersions(s.specVersion) }) : undefined;
  try {
    const target = s.target ?? (server as { url: string }).url;
    const options: ConformanceOptions = {
      target,
      editions,
      kinds: allKinds,
      strict: s.strict,
      jobs: s.jobs,
      timeoutMs: s.timeout,
      rateLimitBudgetMs: s.rateLimitBudget,
      embedded,
      followRedirects: s.followRedirects,
      repeat: s.repeat,
      credentials: s.credentials,
      services: servicesFor(s, target, embedded),
      reports: s.reports,
      write: io.out,
      color: io.color,
      notice: (line) => io.err(line + '\n'),
      signal: io.signal,
      ...(s.cases ? { cases: s.cases } : {}),
      ...(s.expectations ? { expectations: s.expectations } : {}),
      ...(s.updateExpectations ? { updateExpectations: s.updateExpectations } : {}),
      ...(s.trace ? { trace: s.trace } : {}),
      ...(s.specVersion ? { specVersion: s.specVersion } : {}),
      ...(s.registrationToken ? { registrationToken: s.registrationToken } : {}),
      ...(s.grep ? { grep: s.grep } : {}),
    };
    const outcome = await runAndReport(options);
    for (const u of outcome.unwritten) io.err(`conformance: ${u}\n`);
    return outcome.exitCode;
  } finally {
    await server?.close();
  }
}

/** `conformance list`: the cases a run would select; with a target, after asking it what it serves. */
export async function listCommand(s: RunSettings, io: Io): Promise<number> {
  const suite = loadSuite({ kinds: allKinds, ...(s.cases ? { dir: s.cases } : {}) });
  const editions = editionsFor(s, s.target === undefined);
  if (!s.target) {
    const cases = selectCases(suite, editions === 'auto' ? editionIds() : editions, s.grep);
    if (cases.length === 0) throw noCaseMatches(s.grep, editions, s.edition);
    for (const c of cases) io.out(`${c.id}\t${c.title}\t[${c.requirements.join(', ')}]\n`);
    io.out(`${cases.length} cases\n`);
    return 0;
  }
  const p = await plan({ target: s.target, editions, suite, services: servicesFor(s, s.target, false), timeoutMs: s.timeout, rateLimitBudgetMs: s.rateLimitBudget, ...(s.grep ? { grep: s.grep } : {}), ...(s.specVersion ? { specVersion: s.specVersion } : {}) });
  if (p.cases.length === 0) throw noCaseMatches(s.grep, p.editions);
  let runs = 0;
  for (const c of p.cases) {
    const left = p.left.get(c.id);
    if (!left) runs++;
    io.out(`${c.id}\t${c.title}\t[${c.requirements.join(', ')}]${left ? `\tleft out: ${escapeForTerminal(left.reason)}` : ''}\n`);
  }
  const judged = Object.entries(p.versions).map(([e, v]) => `${e} by ${v.version}`).join(', ');
  io.out(`${runs} cases would run (${p.cases.length - runs} left out) — judged ${judged}\n`);
  return 0;
}
