/**
 * A small autocannon-like load generator on undici: `connections` keep-alive
 * connections, each with one request in flight at a time, for a fixed duration
 * (after a warm-up that is not counted). Also starts the servers under test in
 * child processes (see serve.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { percentile } from './stats.js';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** The body of the i-th request (i counts from 0 over warm-up and measurement). */
  body?: (i: number) => string;
  connections: number;
  durationMs: number;
  warmupMs: number;
  /** Hard bound on requests sent, warm-up included. */
  maxRequests?: number;
  /** When given, every measured latency is also pushed here (to pool several runs). */
  samples?: number[];
}

export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  durationMs: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** First non-2xx status and body seen, to tell why (null when all were 2xx). */
  firstBad: { status: number; body: string } | null;
}

const LATENCY_SAMPLES_CAP = 2_000_000;

export async function load(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const maxRequests = options.maxRequests ?? 5_000_000;
  let sent = 0;
  let measuring = false;
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let firstBad: LoadResult['firstBad'] = null;

  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  let measuredStart = measureFrom;

  const worker = async (): Promise<void> => {
    while (sent < maxRequests) {
      const now = performance.now();
      if (now >= end) return;
      if (!measuring && now >= measureFrom) {
        measuring = true;
        measuredStart = now;
      }
      const i = sent++;
      const counted = measuring;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          path: options.path,
          method: options.method,
          headers: options.headers,
          ...(options.body ? { body: options.body(i) } : {}),
        });
        const text = await res.body.text();
        if (!counted) continue;
        // A request started before the end but answered after it still counts as done.
        const took = performance.now() - t0;
        if (latencies.length < LATENCY_SAMPLES_CAP) latencies.push(took);
        if (options.samples && options.samples.length < LATENCY_SAMPLES_CAP) options.samples.push(took);
        if (res.statusCode >= 200 && res.statusCode < 300) ok += 1;
        else {
          non2xx += 1;
          firstBad ??= { status: res.statusCode, body: text.slice(0, 200) };
        }
      } catch {
        if (counted) errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const durationMs = performance.now() - measuredStart;
  await pool.close();
  const done = ok + non2xx;
  return {
    requests: done + errors,
    ok,
    non2xx,
    errors,
    durationMs,
    rps: done / (durationMs / 1000),
    latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    firstBad,
  };
}

export interface ChildServer {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Starts serve.js in a child process and waits (at most 15 s) for its URL. */
export function startChildServer(kind: 'bare' | 'ref'): Promise<ChildServer> {
  const entry = fileURLToPath(new URL('./serve.js', import.meta.url));
  const child: ChildProcess = fork(entry, [kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      if (child.connected) child.send('stop');
      else child.kill('SIGTERM');
    });
  return new Promise<ChildServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve.js ${kind} did not start within 15 s`));
    }, 15_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve({ url: (m as { url: string }).url, pid: child.pid, stop });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve.js ${kind} exited with ${String(code)} before it was ready`));
    });
  });
}
