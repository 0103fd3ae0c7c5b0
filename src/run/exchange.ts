import type { HttpClient, HttpRequest, HttpResponse } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import type { Exchange } from './types.js';

const MAX_RETRIES = 5;
const MAX_WAIT_MS = 10_000;

/**
 * The wait the server asks for (retry_after_ms, else Retry-After in seconds or
 * as an HTTP date), else an exponential back-off. Not capped: a caller that
 * would never wait that long gives up instead of sleeping for nothing.
 */
function retryDelay(res: HttpResponse, attempt: number): number {
  try {
    const body = JSON.parse(res.text) as { retry_after_ms?: unknown };
    if (typeof body.retry_after_ms === 'number' && body.retry_after_ms >= 0) return body.retry_after_ms;
  } catch {
    // not JSON: fall back to the header or a back-off
  }
  const raw = res.headers['retry-after']?.trim() ?? '';
  const seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = raw === '' ? NaN : Date.parse(raw);
  if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  return Math.min(250 * 2 ** attempt, MAX_WAIT_MS);
}

export interface SendOptions {
  /** Follow 3xx answers (at most 5 hops); credentials are dropped when the origin changes. */
  followRedirects?: boolean;
  /** performance.now() value after which no more waiting or retrying is done. */
  deadline?: number;
}

const MAX_REDIRECTS = 5;

/**
 * Sends a request, waiting out rate limits: a 429 is never a verdict, so it is
 * retried after the delay the server asks for, a bounded number of times and
 * never past the deadline. Redirects are returned as they are unless asked
 * to follow; a followed redirect to another origin loses the Authorization header.
 */
export async function sendWithRetry(client: HttpClient, req: HttpRequest, options: SendOptions = {}): Promise<{ res: HttpResponse; attempts: number; url: string }> {
  let attempts = 0;
  let current = req;
  for (let hop = 0; ; hop++) {
    let res: HttpResponse;
    for (let retry = 0; ; retry++) {
      res = await client.send(current);
      attempts++;
      if (res.status !== 429 || retry >= MAX_RETRIES) break;
      const wait = retryDelay(res, retry);
      // A server asking for longer than the runner ever waits will not be ready sooner: stop now.
      if (wait > MAX_WAIT_MS) break;
      if (options.deadline !== undefined && performance.now() + wait > options.deadline) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    const location = res.headers['location'];
    if (!options.followRedirects || res.status < 300 || res.status > 399 || !location || hop >= MAX_REDIRECTS) return { res, attempts, url: current.url };
    if (options.deadline !== undefined && performance.now() > options.deadline) return { res, attempts, url: current.url };
    let next: URL;
    try {
      next = new URL(location, current.url);
    } catch {
      return { res, attempts, url: current.url };
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

/** Bytes for printf '%b' inside single quotes: printable ASCII as is, the rest as \\xHH. */
function printfBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Records an exchange for reports, with every secret replaced by its placeholder. */
function redactHeader(name: string, value: string, redactor: Redactor): string {
  if (name.toLowerCase() === 'authorization') {
    const token = /^Bearer (.*)$/i.exec(value)?.[1];
    const placeholder = token === undefined ? undefined : redactor.placeholderFor(token);
    if (placeholder) return `Bearer ${placeholder}`;
  }
  return redactor.apply(value);
}

/** The request as it is shown in reports, and a curl command that sends it again; secrets replaced. */
function shownRequest(req: HttpRequest, redactor: Redactor): { request: Exchange['request']; curl: string } {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = redactHeader(k, v, redactor);
  // Bytes that are not UTF-8 are shown decoded (with U+FFFD) and sent again byte for byte by the curl line.
  const body = req.body === undefined ? undefined : redactor.apply(typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8'));
  const url = redactor.apply(req.url);
  const parts = ['curl', '-sS', '-i', '-X', req.method, shellQuote(url)];
  for (const [k, v] of Object.entries(headers)) {
    // Placeholders are shell variables, so the command runs once the user exports them.
    parts.push('-H', /\$[A-Z_]+/.test(v) ? `"${k}: ${v}"` : shellQuote(`${k}: ${v}`));
  }
  if (body !== undefined && typeof req.body !== 'string' && req.body !== undefined) {
    parts.push('--data-binary', '@-');
    return { request: { method: req.method, url, headers, body }, curl: `printf '%b' '${printfBytes(req.body)}' | ${parts.join(' ')}` };
  }
  if (body !== undefined) parts.push('--data-binary', shellQuote(body));
  return { request: { method: req.method, url, headers, ...(body === undefined ? {} : { body }) }, curl: parts.join(' ') };
}

/** A shell command that sends `req` again, secrets replaced by shell variables. */
export function curlFor(req: HttpRequest, redactor: Redactor): string {
  return shownRequest(req, redactor).curl;
}

/**
 * Records an exchange for reports, with every secret replaced by its
 * placeholder. Only called for steps that fail or error: redacting every
 * passing step would cost more than the rest of the run.
 */
export function recordExchange(req: HttpRequest, res: HttpResponse | undefined, redactor: Redactor, durationMs: number): Exchange {
  const { request, curl } = shownRequest(req, redactor);
  return {
    request,
    ...(res ? { response: { status: res.status, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, redactor.apply(v)])), body: redactor.apply(res.text), truncated: res.truncated } } : {}),
    durationMs,
    curl,
  };
}
