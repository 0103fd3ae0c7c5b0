import type { HttpRequest, HttpResponse } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import { cutText } from '../text.js';
import type { Exchange } from './types.js';

/** The most of any body the results keep; the rest is cut (at a character boundary) and marked. */
export const RESULT_BODY_CAP = 64 * 1024;

/** Bytes for printf '%b' inside single quotes: printable ASCII as is, the rest as \\xHH. */
function printfBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One shell word for a text, the run's named values in it (user ids) written as their shell variables. */
function shellWord(s: string, redactor: Redactor): string {
  const parts = redactor.splitVariables(s);
  if (parts.length === 1) return shellQuote(s);
  return parts.map((p) => (typeof p === 'string' ? (p === '' ? '' : shellQuote(p)) : `"${p.variable}"`)).join('');
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

/** Request headers as reports show them: a bearer token as its placeholder, every other secret redacted. */
export function shownHeaders(h: Record<string, string>, redactor: Redactor): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) headers[k] = redactHeader(k, v, redactor);
  return headers;
}

/** The request as it is shown in reports, and a curl command that sends it again; secrets replaced. */
function shownRequest(req: HttpRequest, redactor: Redactor): { request: Exchange['request']; curl: string } {
  const headers = shownHeaders(req.headers, redactor);
  // Bytes that are not UTF-8 are shown decoded (with U+FFFD) and sent again byte for byte by the curl line.
  const body = req.body === undefined ? undefined : redactor.apply(typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8'));
  const url = redactor.apply(req.url);
  const parts = ['curl', '-sS', '-i', '-X', req.method, shellWord(url, redactor)];
  for (const [k, v] of Object.entries(headers)) {
    // Placeholders are shell variables, so the command runs once the user exports them.
    parts.push('-H', /\$[A-Z_]+/.test(v) ? `"${k}: ${v}"` : shellQuote(`${k}: ${v}`));
  }
  if (body !== undefined && typeof req.body !== 'string' && req.body !== undefined) {
    parts.push('--data-binary', '@-');
    return { request: { method: req.method, url, headers, body }, curl: `printf '%b' '${printfBytes(req.body)}' | ${parts.join(' ')}` };
  }
  if (body !== undefined) parts.push('--data-binary', shellWord(body, redactor));
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
  if (request.body !== undefined) {
    const c = cutText(request.body, RESULT_BODY_CAP);
    if (c.cut) {
      request.body = c.text;
      request.bodyCut = true;
    }
  }
  // Redacted before it is cut: a cut first could leave part of a secret that no longer matches whole.
  const body = res ? redactor.applyCut(res.text, RESULT_BODY_CAP) : undefined;
  return {
    request,
    ...(res && body ? { response: { status: res.status, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, redactor.applyCut(v, 8192).text])), body: body.text, truncated: res.truncated, ...(body.cut ? { bodyCut: true } : {}) } } : {}),
    durationMs,
    curl,
  };
}
