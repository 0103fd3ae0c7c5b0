import { setTimeout as sleep } from 'node:timers/promises';
import { TransportError, type HttpClient, type HttpRequest, type HttpResponse, type Timings } from './client.js';

/** One request sent and what came of it: an answer, or the error that ended it. */
export interface SentExchange {
  req: HttpRequest;
  /** Undefined when no answer came. */
  res?: HttpResponse;
  started: Date;
  /** performance.now() when it was sent. */
  at: number;
  ms: number;
  error?: string;
  timings?: Timings;
}

/** What the runner is told each time it waits out a rate limit, so the terminal can say so. */
export interface RateLimitWait {
  method: string;
  url: string;
  /** How long this wait lasts. */
  waitMs: number;
  /** Rate-limit answers this request has had so far. */
  attempt: number;
  /** Where the wait comes from: the server's retry_after_ms, its Retry-After header, or our own back-off. */
  source: 'retry_after_ms' | 'retry-after' | 'back-off';
}

export interface TransportOptions {
  /**
   * How long one request may spend waiting out 429s, in all (default 60 s).
   * A server that asks for more than what is left is not waited for.
   */
  rateLimitBudgetMs?: number;
  onRateLimit?: (wait: RateLimitWait) => void;
  /** Sees every exchange, each rate-limited try included (for --trace); `res` is undefined when no answer came. */
  onExchange?: (x: SentExchange) => void;
  /** The first back-off when a 429 names no wait (default 200 ms); it doubles with each further 429, up to 10 s. */
  backoffBaseMs?: number;
  /** For tests: the source of jitter (default Math.random). */
  random?: () => number;
  /** The run's stop signal (SIGINT, SIGTERM): a wait for a rate limit ends at once, as on close(). */
  signal?: AbortSignal;
}

export interface SendOptions {
  /** Follow 3xx answers (at most 5 hops); credentials are dropped when the origin changes. */
  followRedirects?: boolean;
  /** performance.now() value after which no more redirects are followed (rate-limit waits have their own budget). */
  deadline?: number;
  /** Told at once when this request is rate-limited, before the wait (the user pool slows down on it). */
  onLimited?: () => void;
  /** Sees this request's exchanges in place of the transport's onExchange (a case's own, tagged with it). */
  observe?: (x: SentExchange) => void;
}

/** What sends a case's requests: a Transport, or a view of one that sees them (observing). */
export interface Sender {
  readonly client: HttpClient;
  send(req: HttpRequest, options?: SendOptions): Promise<Sent>;
}

/** A view of the transport whose requests `observe` sees, in place of the transport's onExchange. */
export function observing(transport: Sender, observe: (x: SentExchange) => void): Sender {
  return { client: transport.client, send: (req, options = {}) => transport.send(req, { ...options, observe }) };
}

export interface Sent {
  res: HttpResponse;
  /** Requests sent, rate-limited ones included. */
  attempts: number;
  /** The URL that gave the final answer (differs from the request's after a followed redirect). */
  url: string;
  /** Time spent waiting out rate limits. */
  waitedMs: number;
}

export const DEFAULT_RATE_LIMIT_BUDGET_MS = 60_000;
/** First back-off when the server names no wait (or names 0), doubled on each further 429. */
const DEFAULT_BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;
const MAX_REDIRECTS = 5;

/** The wait a 429 asks for: retry_after_ms in its JSON body, else Retry-After in seconds or as an HTTP date. */
export function askedWait(res: HttpResponse): { ms: number; source: 'retry_after_ms' | 'retry-after' } | undefined {
  try {
    const body = JSON.parse(res.text) as { retry_after_ms?: unknown } | null;
    if (body && typeof body.retry_after_ms === 'number' && Number.isFinite(body.retry_after_ms) && body.retry_after_ms >= 0) return { ms: body.retry_after_ms, source: 'retry_after_ms' };
  } catch {
    // not JSON: fall back to the header
  }
  const raw = res.headers['retry-after']?.trim() ?? '';
  if (/^\d+(\.\d+)?$/.test(raw)) return { ms: Number(raw) * 1000, source: 'retry-after' };
  const date = raw === '' ? NaN : Date.parse(raw);
  if (Number.isFinite(date)) return { ms: Math.max(0, date - Date.now()), source: 'retry-after' };
  return undefined;
}

/**
 * Sends requests for the runner: rate limits are waited out within a time
 * budget, redirects followed only when asked. A 429 means the server did not
 * act on the request, so sending it again is safe whatever its method.
 *
 * The budget, not a count of tries, bounds the waiting: a server that
 * rate-limits every fourth request, or answers `Retry-After: 0`, is waited out
 * with a growing, jittered back-off however often it says so, and a run that
 * meets a real limit slows down instead of failing.
 */
export class Transport {
  readonly budgetMs: number;
  private readonly random: () => number;
  /** Aborted by close(): waits under way end at once, so a finished run does not sit out 429s nobody needs. */
  private readonly closing = new AbortController();
  private waiting = 0;
  private waitingSince = 0;
  private waitedWall = 0;
  private waitedSum = 0;
  private readonly waitsUnderWay = new Set<{ t0: number }>();

  /** Time during which at least one request was waiting out a rate limit (wall clock), and the sum of every request's completed waits. */
  get rateLimited(): { wallMs: number; sumMs: number } {
    const now = performance.now();
    return { wallMs: this.waitedWall + (this.waiting > 0 ? now - this.waitingSince : 0), sumMs: this.waitedSum + [...this.waitsUnderWay].reduce((n, w) => n + now - w.t0, 0) };
  }

  constructor(
    readonly client: HttpClient,
    private readonly options: TransportOptions = {},
  ) {
    this.budgetMs = options.rateLimitBudgetMs ?? DEFAULT_RATE_LIMIT_BUDGET_MS;
    this.random = options.random ?? Math.random;
  }

  /**
   * The wait before the next try: what the server asked for, else an
   * exponential back-off with jitter. A wait asked for is never shorter than
   * the fixed half of the back-off: a server naming a tiny wait (1e-300 ms)
   * is not hammered, and the waits still grow.
   */
  private waitFor(res: HttpResponse, limited: number): { ms: number; source: RateLimitWait['source'] } {
    const backoff = Math.min((this.options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS) * 2 ** (limited - 1), BACKOFF_CAP_MS);
    const asked = askedWait(res);
    if (asked && asked.ms > 0) return { ms: Math.max(asked.ms, backoff / 2), source: asked.source };
    // Half fixed, half random: clients limited together do not all come back at the same moment.
    return { ms: backoff / 2 + this.random() * (backoff / 2), source: 'back-off' };
  }

  async send(req: HttpRequest, options: SendOptions = {}): Promise<Sent> {
    const observe = options.observe ?? this.options.onExchange;
    let attempts = 0;
    let waitedMs = 0;
    let current = req;
    // The budget is wall-clock time from the first 429: the waits and the tries between them.
    let firstLimitedAt: number | undefined;
    for (let hop = 0; ; hop++) {
      let res: HttpResponse;
      for (let limited = 0; ; ) {
        const started = new Date();
        const t0 = performance.now();
        try {
          res = await this.client.send(current);
        } catch (err) {
          const timings = err instanceof TransportError ? err.timings : undefined;
          observe?.({ req: current, started, at: t0, ms: performance.now() - t0, error: err instanceof Error ? err.message : String(err), ...(timings ? { timings } : {}) });
          throw err;
        }
        observe?.({ req: current, res, started, at: t0, ms: res.durationMs, timings: res.timings });
        attempts++;
        if (res.status !== 429) break;
        limited++;
        firstLimitedAt ??= t0;
        const wait = this.waitFor(res, limited);
        // A server asking for longer than the budget has left will not be ready in time: stop now.
        if (performance.now() - firstLimitedAt + wait.ms > this.budgetMs || this.stopped()) break;
        options.onLimited?.();
        this.options.onRateLimit?.({ method: current.method, url: current.url, waitMs: wait.ms, attempt: limited, source: wait.source });
        if (this.waiting++ === 0) this.waitingSince = performance.now();
        const under = { t0: performance.now() };
        this.waitsUnderWay.add(under);
        try {
          await sleep(wait.ms, undefined, { signal: this.options.signal ? AbortSignal.any([this.closing.signal, this.options.signal]) : this.closing.signal });
        } catch {
          throw new TransportError('ERR_HTTP_CLOSED', 'the run ended while this request waited out a rate limit');
        } finally {
          this.waitsUnderWay.delete(under);
          this.waitedSum += performance.now() - under.t0;
          if (--this.waiting === 0) this.waitedWall += performance.now() - this.waitingSince;
        }
        waitedMs += wait.ms;
      }
      const location = res.headers['location'];
      if (!options.followRedirects || res.status < 300 || res.status > 399 || !location || hop >= MAX_REDIRECTS) return { res, attempts, url: current.url, waitedMs };
      if (options.deadline !== undefined && performance.now() > options.deadline) return { res, attempts, url: current.url, waitedMs };
      let next: URL;
      try {
        next = new URL(location, current.url);
      } catch {
        return { res, attempts, url: current.url, waitedMs };
      }
      const headers = { ...current.headers };
      // Credentials stay with their origin, whatever the case of the header's name.
      if (next.origin !== new URL(current.url).origin) for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
      // 303 (and, as browsers do, 301/302 after POST) turn into a GET without a body.
      const toGet = res.status === 303 || ((res.status === 301 || res.status === 302) && current.method === 'POST');
      if (toGet) delete headers['content-type'];
      current = { method: toGet ? 'GET' : current.method, url: next.toString(), headers, ...(toGet || current.body === undefined ? {} : { body: current.body }) };
    }
  }

  private stopped(): boolean {
    return this.closing.signal.aborted || this.options.signal?.aborted === true;
  }

  close(): Promise<void> {
    this.closing.abort();
    return this.client.close();
  }
}
