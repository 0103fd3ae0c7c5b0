import type { HttpClient, HttpRequest, HttpResponse } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import type { Exchange } from './types.js';

const MAX_RETRIES = 5;
const MAX_WAIT_MS = 10_000;

function retryDelay(res: HttpResponse, attempt: number): number {
  try {
    const body = JSON.parse(res.text) as { retry_after_ms?: unknown };
    if (typeof body.retry_after_ms === 'number' && body.retry_after_ms >= 0) return Math.min(body.retry_after_ms, MAX_WAIT_MS);
  } catch {
    // not JSON: fall back to the header or a back-off
  }
  const header = Number(res.headers['retry-after']);
  if (Number.isFinite(header) && header >= 0) return Math.min(header * 1000, MAX_WAIT_MS);
  return Math.min(250 * 2 ** attempt, MAX_WAIT_MS);
}

/**
 * Sends a request, waiting out rate limits: a 429 is never a verdict, so it is
 * retried after the delay the server asks for, a bounded number of times.
 */
export async function sendWithRetry(client: HttpClient, req: HttpRequest): Promise<{ res: HttpResponse; attempts: number }> {
  for (let attempt = 0; ; attempt++) {
    const res = await client.send(req);
    if (res.status !== 429 || attempt >= MAX_RETRIES) return { res, attempts: attempt + 1 };
    await new Promise((r) => setTimeout(r, retryDelay(res, attempt)));
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Records an exchange for reports, with every secret replaced by its placeholder. */
export function recordExchange(req: HttpRequest, res: HttpResponse | undefined, redactor: Redactor, durationMs: number): Exchange {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = redactor.apply(v);
  const body = req.body === undefined ? undefined : redactor.apply(req.body);
  const url = redactor.apply(req.url);
  const parts = ['curl', '-sS', '-i', '-X', req.method, shellQuote(url)];
  for (const [k, v] of Object.entries(headers)) {
    // Placeholders are shell variables, so the command runs once the user exports them.
    parts.push('-H', /\$[A-Z_]+/.test(v) ? `"${k}: ${v}"` : shellQuote(`${k}: ${v}`));
  }
  if (body !== undefined) parts.push('--data-binary', shellQuote(body));
  return {
    request: { method: req.method, url, headers, ...(body === undefined ? {} : { body }) },
    ...(res ? { response: { status: res.status, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, redactor.apply(v)])), body: redactor.apply(res.text), truncated: res.truncated } } : {}),
    durationMs,
    curl: parts.join(' '),
  };
}
