/**
 * `npm run bench`: prints figures, asserts nothing. Everything runs on
 * 127.0.0.1; every loop is bounded in count and in time (see BUDGET_MS and
 * the per-section bounds), and a run that overruns its bound is cut by
 * closing its server, so the whole bench ends in about two minutes.
 *
 *   1. the whole suite (all editions) against the embedded reference server,
 *      in-process through run(): median of several runs, default jobs and
 *      other --jobs values; plus the CLI end to end (process start to exit);
 *   2. the same against a proxy that adds 50 ms to every answer: wall time
 *      vs the sum of every request's latency (counted at the proxy), i.e. the
 *      concurrency gain, for several --jobs values;
 *   3. how time grows with --repeat 1, 10, 100;
 *   4. requests per second of the reference server's POST pushers/set vs a
 *      bare node:http server answering `{}`, same load generator, same run;
 *   5. push delivery latency on the reference server;
 *   6. the CLI with every delivery case and with --no-delivery, side by side;
 *   7. the CLI's peak memory while a target floods the mock gateway.
 *
 * The last line of output is one JSON object with every figure.
 * BENCH_ONLY=1,3 (say) runs only some sections.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { DEFAULT_JOBS, editionIds, gatewayService, loadSuite, run, summarize, type CaseResult, type RunOptions, type RunReport, type Suite } from '../src/index.js';
import { createServer, type RunningServer } from '../reference-server/index.js';
import { startLatencyProxy, type ProxyStats } from './latency-proxy.js';
import { load, startChildServer, type LoadResult } from './load.js';
import { deliveryLatency } from './delivery.js';
import { deliveryOverhead } from './cli-process.js';
import { gatewayFlood } from './flood.js';
import { median, ms, percentile, round, table } from './stats.js';

/** The whole bench aims to end within this; optional measurements are skipped past it. */
const BUDGET_MS = 115_000;
// RunOptions' and the CLI's default, from the library itself so the label cannot go stale.
const DELAY_MS = 50;
const EMBEDDED_RUNS = 5;
const EMBEDDED_EXTRA_JOBS = [2, 4, 8];
const CLI_RUNS = 3;
const PROXY_JOBS = [1, 4, 8, 16, 32, 64];
/** A proxied run is cut (its proxy closed) past this. */
const PROXY_RUN_BOUND_MS = 40_000;
const REPEATS = [1, 10, 100];
const REPEAT_BOUND_MS = 40_000;
const LOAD_CONNECTIONS = 16;
/** Per server: LOAD_ROUNDS slices of LOAD_SLICE_MS, i.e. 3 s measured each. */
const LOAD_ROUNDS = 3;
const LOAD_SLICE_MS = 1_000;
const LOAD_WARMUP_MS = 300;

const benchStart = performance.now();
const elapsed = (): number => performance.now() - benchStart;
const left = (): number => BUDGET_MS - elapsed();
const notes: string[] = [];

function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function outcomes(results: readonly CaseResult[]): string {
  const s = summarize(results);
  const parts = Object.entries(s).filter(([k, v]) => v > 0 && !['total', 'mustFailures', 'shouldFailures'].includes(k)).map(([k, v]) => `${k} ${v}`);
  return parts.join(', ') || 'none';
}

interface Timed {
  wallMs: number;
  report?: RunReport;
  cut: boolean;
  caseRuns: number;
  /** When each case run ended, in ms from the start of the run (in order of ending). */
  doneAt: number[];
  error?: string;
}

/**
 * Runs the suite with a bound: past `boundMs` the target is closed (`cut`), so
 * what is left fails fast, and the run is reported as cut after the case runs
 * that had finished.
 */
async function timedRun(options: Omit<RunOptions, 'onResult'>, boundMs: number, cut: () => Promise<void>): Promise<Timed> {
  let caseRuns = 0;
  let wasCut = false;
  const started = performance.now();
  const doneAt: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  const running = run({
    ...options,
    onResult: () => {
      caseRuns += 1;
      if (doneAt.length < 1_000_000) doneAt.push(performance.now() - started);
    },
  });
  const bounded = new Promise<'cut'>((resolve) => {
    timer = setTimeout(() => resolve('cut'), Math.max(1, boundMs));
  });
  try {
    const first = await Promise.race([running, bounded]);
    if (first !== 'cut') return { wallMs: performance.now() - started, report: first, cut: false, caseRuns, doneAt };
    wasCut = true;
    const wallMs = performance.now() - started;
    const done = caseRuns;
    const doneAtCut = doneAt.slice();
    await cut();
    // What is left now fails fast (connection refused); give it a bounded moment to settle.
    let settle: NodeJS.Timeout | undefined;
    await Promise.race([running.catch(() => undefined), new Promise((r) => (settle = setTimeout(r, 15_000)))]);
    clearTimeout(settle);
    return { wallMs, cut: true, caseRuns: done, doneAt: doneAtCut };
  } catch (err) {
    return { wallMs: performance.now() - started, cut: wasCut, caseRuns, doneAt, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function embeddedRun(suite: Suite, extra: Partial<RunOptions>, boundMs: number): Promise<Timed> {
  const server: RunningServer = await createServer({ port: 0 });
  try {
    return await timedRun({ target: server.url, editions: editionIds(), suite, embedded: true, ...extra }, boundMs, () => server.close());
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------------------

function environment(): Record<string, unknown> {
  const cpu = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadavg: loadavg().map((x) => round(x, 2)).join(' '),
    date: new Date().toISOString(),
  };
}

async function section1(suite: Suite): Promise<Record<string, unknown>> {
  say('== 1. Whole suite (all editions) against the embedded reference server, in-process run() ==');
  const cold = await embeddedRun(suite, {}, 30_000);
  // One more warm-up, then the --jobs values in turn (round-robin), so JIT warm-up and
  // background load do not favour whichever value is measured last.
  await embeddedRun(suite, {}, 30_000);
  const variants = [DEFAULT_JOBS, 1, ...EMBEDDED_EXTRA_JOBS];
  const walls = new Map<number, number[]>(variants.map((j) => [j, []]));
  const lastRun = new Map<number, Timed>();
  for (let i = 0; i < EMBEDDED_RUNS && left() > 20_000; i++) {
    for (const jobs of variants) {
      if (i >= 3 && EMBEDDED_EXTRA_JOBS.includes(jobs)) continue;
      const t = await embeddedRun(suite, jobs === DEFAULT_JOBS ? {} : { jobs }, 30_000);
      walls.get(jobs)?.push(t.wallMs);
      lastRun.set(jobs, t);
    }
  }
  const perJobs = variants.map((jobs) => {
    const w = walls.get(jobs) ?? [];
    const last = lastRun.get(jobs);
    const results = last?.report?.results ?? [];
    return { jobs, runs: w.map((x) => round(x)), medianMs: round(median(w)), requests: results.reduce((a, r) => a + r.requests, 0), outcomes: last?.error ?? outcomes(results) };
  });

  // The CLI end to end, as a user sees it: process start, loading, run, report, exit.
  const cliWalls: number[] = [];
  const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
  let cliExit: number | null = null;
  for (let i = 0; i < CLI_RUNS && left() > 20_000; i++) {
    const t0 = performance.now();
    cliExit = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [cli, '--reporter', 'json'], { stdio: ['ignore', 'ignore', 'inherit'] });
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(kill);
        resolve(code);
      });
    });
    cliWalls.push(performance.now() - t0);
  }

  const cases = cold.report?.results.length ?? 0;
  say(`cases: ${cases}; first (cold) run in this process: ${ms(cold.wallMs)}`);
  say(
    table(
      ['--jobs', 'median wall', 'runs (ms)', 'case requests', 'outcomes'],
      perJobs.map((p) => [`${p.jobs}${p.jobs === DEFAULT_JOBS ? ' (default)' : ''}`, ms(p.medianMs), p.runs.map((r) => Math.round(r)).join(' '), String(p.requests), p.outcomes]),
    ),
  );
  const d = perJobs.find((p) => p.jobs === DEFAULT_JOBS);
  const one = perJobs.find((p) => p.jobs === 1);
  if (d && one) say(`jobs=1 / default: ${round(one.medianMs / d.medianMs, 2)}×`);
  say(`CLI end to end (node dist/src/cli.js --reporter json; process start → exit, exit code ${String(cliExit)}): median ${ms(median(cliWalls))} of ${cliWalls.map((w) => Math.round(w)).join(' ')} ms`);
  say();
  return { cases, coldRunMs: round(cold.wallMs), byJobs: perJobs, cli: { runsMs: cliWalls.map((w) => round(w)), medianMs: round(median(cliWalls)), exitCode: cliExit } };
}

interface ProxyRow {
  jobs: number;
  wallMs: number;
  cut: boolean;
  proxyRequests: number;
  reportRequests: number;
  byKind: Record<string, number>;
  sumLatencyMs: number;
  meanLatencyMs: number;
  nominalSerialMs: number;
  gain: number;
  nominalGain: number;
  maxInFlight: number;
  longestCaseMs: number;
  outcomes: string;
}

async function section2(suite: Suite): Promise<Record<string, unknown>> {
  say(`== 2. Against a target that adds ${DELAY_MS} ms to every answer (proxy in front of the reference server) ==`);
  const rows: ProxyRow[] = [];
  for (const jobs of PROXY_JOBS) {
    // Room for this run at its bound, and for sections 3 and 4 after it.
    const bound = Math.min(PROXY_RUN_BOUND_MS, left() - 45_000);
    if (bound < 3_000) {
      notes.push(`section 2: --jobs ${jobs} skipped, out of time budget`);
      continue;
    }
    // Delivery cases included: the reference server pokes the mock gateway directly (the proxy delays answers, not pokes).
    const server = await createServer({ port: 0, pushTlsVerify: false });
    const proxy = await startLatencyProxy(server.url, DELAY_MS);
    const services = new Map([['gateway', gatewayService(proxy.url, { tls: true })]]);
    let t: Timed;
    let s: ProxyStats;
    try {
      t = await timedRun({ target: proxy.url, editions: editionIds(), suite, jobs, services }, bound, () => proxy.close());
      s = proxy.stats();
    } finally {
      await proxy.close();
      await server.close();
    }
    const results = t.report?.results ?? [];
    const row: ProxyRow = {
      jobs,
      wallMs: round(t.wallMs),
      cut: t.cut,
      proxyRequests: s.requests,
      reportRequests: results.reduce((a, r) => a + r.requests, 0),
      byKind: s.byKind,
      sumLatencyMs: round(s.sumLatencyMs),
      meanLatencyMs: round(s.sumLatencyMs / Math.max(1, s.requests), 2),
      nominalSerialMs: s.requests * DELAY_MS,
      gain: round(s.sumLatencyMs / t.wallMs, 2),
      nominalGain: round((s.requests * DELAY_MS) / t.wallMs, 2),
      maxInFlight: s.maxInFlight,
      longestCaseMs: round(Math.max(0, ...results.map((r) => r.durationMs))),
      outcomes: t.cut ? `cut after ${ms(t.wallMs)} (${t.caseRuns} cases done)` : (t.error ?? outcomes(results)),
    };
    rows.push(row);
    if (t.cut) notes.push(`section 2: --jobs ${jobs} cut at ${ms(t.wallMs)}; its gain is over the part that ran`);
  }
  say(
    table(
      ['--jobs', 'wall', 'requests@proxy', 'Σ latency', 'gain Σ/wall', 'n×50ms/wall', 'max in flight', 'longest case', 'outcomes'],
      rows.map((r) => [
        `${r.jobs}${r.jobs === DEFAULT_JOBS ? ' (default)' : ''}`,
        ms(r.wallMs),
        String(r.proxyRequests),
        ms(r.sumLatencyMs),
        `${r.gain}×`,
        `${r.nominalGain}×`,
        String(r.maxInFlight),
        ms(r.longestCaseMs),
        r.outcomes,
      ]),
    ),
  );
  const first = rows.find((r) => !r.cut);
  if (first) {
    const kinds = Object.entries(first.byKind).map(([k, v]) => `${k} ${v}`).join(', ');
    say(`requests per run at the proxy: ${first.proxyRequests} (${kinds}); the report's results[].requests count only case steps: ${first.reportRequests}`);
    say(`mean latency per request seen at the proxy: ${first.meanLatencyMs} ms (${DELAY_MS} ms added + upstream time)`);
  }
  say('gain = Σ over every request of its latency / wall time of the run (goal ≥ 10× at the default --jobs, delivery cases included); "longest case" bounds the wall time from below');
  const complete = rows.filter((r) => !r.cut);
  const reaching = complete.find((r) => r.gain >= 5);
  say(`smallest --jobs reaching 5×: ${reaching ? reaching.jobs : 'none measured'}; wall time by --jobs: ${complete.map((r) => `${r.jobs}→${ms(r.wallMs)}`).join(', ')}`);
  say();
  return { delayMs: DELAY_MS, byJobs: rows };
}

async function section3(suite: Suite): Promise<Record<string, unknown>> {
  say('== 3. Growth with --repeat (embedded server, default jobs) ==');
  const rows: Array<{ repeat: number; wallMs: number; caseRuns: number; perCaseRunMs: number; ratioToRepeat1: number; cut: boolean; flaky: number; outcomes: string; msPerCaseRunByTenth: number[] }> = [];
  let base: number | undefined;
  for (const repeat of REPEATS) {
    const bound = Math.min(REPEAT_BOUND_MS, left() - 15_000);
    if (bound < 2_000) {
      notes.push(`section 3: --repeat ${repeat} skipped, out of time budget`);
      continue;
    }
    const t = await embeddedRun(suite, { repeat }, bound);
    const results = t.report?.results ?? [];
    const caseRuns = t.report ? results.length * repeat : t.caseRuns;
    base ??= t.wallMs;
    // Time per case run in each tenth of the planned case runs (the ones that ran): flat if cost is linear.
    const planned = suite.cases.length * repeat;
    const tenth = Math.max(1, Math.floor(planned / 10));
    const byTenth: number[] = [];
    for (let k = 0; (k + 1) * tenth <= t.doneAt.length && k < 10; k++) {
      const from = k === 0 ? 0 : (t.doneAt[k * tenth - 1] ?? 0);
      const to = t.doneAt[(k + 1) * tenth - 1] ?? from;
      byTenth.push(round((to - from) / tenth, 2));
    }
    rows.push({
      repeat,
      wallMs: round(t.wallMs),
      caseRuns,
      perCaseRunMs: round(t.wallMs / Math.max(1, caseRuns), 2),
      ratioToRepeat1: round(t.wallMs / base, 1),
      cut: t.cut,
      flaky: results.filter((r) => r.flaky).length,
      outcomes: t.cut ? `cut at the ${ms(bound)} bound` : (t.error ?? outcomes(results)),
      msPerCaseRunByTenth: byTenth,
    });
    if (t.cut) notes.push(`section 3: --repeat ${repeat} cut at ${ms(t.wallMs)} after ${t.caseRuns} case runs`);
  }
  say(
    table(
      ['--repeat', 'wall', 'case runs', 'per case run', '× repeat 1', 'flaky', 'outcomes'],
      rows.map((r) => [String(r.repeat), ms(r.wallMs), String(r.caseRuns), `${r.perCaseRunMs} ms`, `${r.ratioToRepeat1}×`, String(r.flaky), r.outcomes]),
    ),
  );
  for (const r of rows) {
    if (r.repeat > 1) say(`ms per case run, by tenth of --repeat ${r.repeat} (flat = linear growth): ${r.msPerCaseRunByTenth.join(' ') || 'n/a'}${r.cut ? ' (cut before the end)' : ''}`);
  }
  say();
  return { byRepeat: rows };
}

async function registerUser(base: string): Promise<string> {
  const url = `${base}/_matrix/client/v3/register`;
  const body = { username: `bench${Date.now()}`, password: 'bench-password-0123', inhibit_login: false };
  const first = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const challenge = (await first.body.json()) as { session?: string };
  const second = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, auth: { type: 'm.login.dummy', session: challenge.session } }) });
  const answer = (await second.body.json()) as { access_token?: string };
  if (second.statusCode !== 200 || typeof answer.access_token !== 'string') throw new Error(`registration for the load test answered ${second.statusCode}`);
  return answer.access_token;
}

function pusher(pushkey: string): string {
  return JSON.stringify({
    kind: 'http',
    app_id: 'org.matrix.conformance.bench',
    pushkey,
    app_display_name: 'Conformance bench',
    device_display_name: 'Bench device',
    lang: 'en-US',
    data: { url: 'https://push.example.org/_matrix/push/v1/notify', format: 'event_id_only' },
  });
}

async function section4(): Promise<Record<string, unknown>> {
  say(`== 4. Throughput: POST /_matrix/client/v3/pushers/set vs a bare node:http server (${LOAD_CONNECTIONS} connections; after a 700 ms warm-up of each, ${LOAD_ROUNDS} interleaved slices of ${LOAD_SLICE_MS} ms per server, each after ${LOAD_WARMUP_MS} ms warm-up; servers in child processes) ==`);
  const path = '/_matrix/client/v3/pushers/set';
  const bare = await startChildServer('bare');
  let ref;
  try {
    ref = await startChildServer('ref');
  } catch (err) {
    await bare.stop();
    throw err;
  }
  interface Variant {
    server: string;
    url: string;
    headers: Record<string, string>;
    body: (round: number) => (i: number) => string;
    slices: LoadResult[];
    samples: number[];
  }
  try {
    const token = await registerUser(ref.url);
    const authed = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const variants: Variant[] = [
      { server: 'bare node:http answering {}', url: bare.url, headers: { 'content-type': 'application/json' }, body: () => () => pusher('same-key'), slices: [], samples: [] },
      { server: 'reference, same pushkey (update in place)', url: ref.url, headers: authed, body: () => () => pusher('same-key'), slices: [], samples: [] },
      { server: 'reference, distinct pushkeys (store grows)', url: ref.url, headers: authed, body: (round) => (i) => pusher(`key-${round}-${i}`), slices: [], samples: [] },
    ];
    // One uncounted pass warms up the generator and every server (JIT), then interleaved
    // slices, so a burst of background load hits every server alike.
    for (const v of variants) {
      await load({ method: 'POST', path, url: v.url, headers: v.headers, body: v.body(-1), connections: LOAD_CONNECTIONS, durationMs: 0, warmupMs: 700 });
    }
    for (let round = 0; round < LOAD_ROUNDS; round++) {
      for (const v of variants) {
        v.slices.push(await load({ method: 'POST', path, url: v.url, headers: v.headers, body: v.body(round), connections: LOAD_CONNECTIONS, durationMs: LOAD_SLICE_MS, warmupMs: LOAD_WARMUP_MS, samples: v.samples }));
      }
    }
    const rows = variants.map((v) => {
      const done = v.slices.reduce((a, r) => a + r.ok + r.non2xx, 0);
      const time = v.slices.reduce((a, r) => a + r.durationMs, 0);
      return {
        server: v.server,
        rps: round(done / (time / 1000)),
        medianSliceRps: round(median(v.slices.map((r) => r.rps))),
        sliceRps: v.slices.map((r) => round(r.rps)),
        requests: v.slices.reduce((a, r) => a + r.requests, 0),
        non2xx: v.slices.reduce((a, r) => a + r.non2xx, 0),
        errors: v.slices.reduce((a, r) => a + r.errors, 0),
        durationMs: round(time),
        latencyMs: { p50: round(percentile(v.samples, 50), 3), p90: round(percentile(v.samples, 90), 3), p99: round(percentile(v.samples, 99), 3), max: round(percentile(v.samples, 100), 3) },
        firstBad: v.slices.find((r) => r.firstBad)?.firstBad ?? null,
      };
    });
    const bareRps = rows[0]?.rps ?? NaN;
    const withRatio = rows.map((r) => ({ ...r, ratioToBare: round(r.rps / bareRps, 3) }));
    say(
      table(
        ['server', 'req/s', 'vs bare', 'per slice', 'requests', 'non-2xx', 'errors', 'p50', 'p99', 'max'],
        withRatio.map((r) => [
          r.server,
          String(Math.round(r.rps)),
          `${r.ratioToBare}×`,
          r.sliceRps.map((x) => Math.round(x)).join(' '),
          String(r.requests),
          String(r.non2xx),
          String(r.errors),
          `${r.latencyMs.p50} ms`,
          `${r.latencyMs.p99} ms`,
          `${round(r.latencyMs.max, 1)} ms`,
        ]),
      ),
    );
    for (const r of withRatio) if (r.firstBad) say(`  ${r.server}: first non-2xx ${r.firstBad.status} ${r.firstBad.body}`);
    say('one registered user; every server gets the same request body (a valid http pusher), the bare one reads and ignores it');
    say();
    return { connections: LOAD_CONNECTIONS, rounds: LOAD_ROUNDS, sliceMs: LOAD_SLICE_MS, results: withRatio };
  } finally {
    await bare.stop();
    await ref.stop();
  }
}

async function main(): Promise<void> {
  const env = environment();
  say('Matrix pushers conformance suite: benchmark (figures only; nothing is asserted)');
  say(Object.entries(env).map(([k, v]) => `${k}: ${String(v)}`).join(' | '));
  say();

  const t0 = performance.now();
  const suite = loadSuite();
  const loadSuiteMs = round(performance.now() - t0);
  say(`loadSuite(): ${ms(loadSuiteMs)} (${suite.cases.length} cases; parse + validate, once per process)`);
  say();

  const figures: Record<string, unknown> = { env, loadSuiteMs };
  // BENCH_ONLY=2,4 runs only those sections (for quick iterations); default: all.
  const only = process.env['BENCH_ONLY']?.split(',').map((x) => x.trim());
  const wanted = (n: string): boolean => !only || only.includes(n);
  if (wanted('1')) figures['embedded'] = await section1(suite);
  if (wanted('2')) figures['delayed'] = await section2(suite);
  if (wanted('3')) figures['repeat'] = await section3(suite);
  if (wanted('4')) figures['throughput'] = await section4();
  if (wanted('5')) {
    say('== 5. Delivery latency: send answered -> poke at the mock gateway (reference server, HTTPS gateway, messages one after the other) ==');
    const d = await deliveryLatency();
    say(`${d.messages} messages: p50 ${d.p50} ms, p90 ${d.p90} ms, max ${d.max} ms${d.lost ? `, ${d.lost} never poked within 5 s` : ''}`);
    say();
    figures['delivery'] = d;
  }
  if (wanted('6')) {
    say('== 6. The CLI end to end, every case (delivery included) vs --no-delivery, interleaved ==');
    figures['deliveryOverhead'] = await deliveryOverhead();
    say();
  }
  if (wanted('7')) {
    say('== 7. Peak memory of the CLI while a target floods the mock gateway (10 000 pokes of 64 KB, 8 at a time) ==');
    figures['gatewayFlood'] = await gatewayFlood();
    say();
  }
  figures['totalMs'] = round(elapsed());
  figures['loadavgAtEnd'] = loadavg().map((x) => round(x, 2));
  figures['notes'] = notes;

  if (notes.length) say(`notes: ${notes.join('; ')}`);
  say(`bench finished in ${ms(elapsed())}; load average now ${loadavg().map((x) => round(x, 2)).join(' ')} (other processes on this machine skew every figure)`);
  say(JSON.stringify(figures));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
