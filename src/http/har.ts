/**
 * `--trace FILE`: every exchange of the run as a HAR 1.2 file, which browser
 * devtools and HAR viewers open. Entries are written as the run goes (memory
 * stays flat whatever the run's length), each body cut at 64 KiB, and every
 * secret redacted: entries wait a moment before they are written, so a token
 * a registration answer has just issued is known to the redactor by then, and
 * the members that carry secrets by name are blanked whatever their value.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { HttpRequest, HttpResponse, Timings } from './client.js';
import type { Redactor } from './redact.js';

/** One exchange of the run, as the trace records it. */
export interface TraceEntry {
  req: HttpRequest;
  /** Undefined when no answer came. */
  res?: HttpResponse;
  started: Date;
  ms: number;
  error?: string;
  timings?: Timings;
  /** The case it belongs to (null: the run's own setup, such as the preflight and registering users). */
  case: string | null;
  /** The step of the case (1-based), or "baseline", "cleanup", "after" (a request that came after its case ended), "(setup)". */
  step: number | string;
  /** Set when the target sent the request, to the service of this name (a poke to the mock "gateway"). */
  from?: string;
}

const BODY_CAP = 64 * 1024;
const SECRET_MEMBERS = new Set(['access_token', 'refresh_token', 'password', 'token', 'new_password']);
/** How long an entry waits before it is written (see above). */
const HOLD_MS = 200;

interface Pending {
  at: number;
  entry: () => unknown;
}

/** Blanks JSON members that carry secrets by their name, at any depth. */
function blankSecrets(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  let changed = false;
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > 64 || typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_MEMBERS.has(k) && typeof x === 'string') {
        out[k] = '$REDACTED';
        changed = true;
      } else out[k] = walk(x, depth + 1);
    }
    return out;
  };
  const result = walk(value, 0);
  return changed ? JSON.stringify(result) : text;
}

/**
 * HAR timings: dns is part of connect (undici resolves while it connects);
 * connect and ssl are -1 for a request that reused a connection; `time` is
 * the sum of the phases that are not -1, ssl aside (connect holds it).
 */
function harTimings(x: TraceEntry): { total: number; phases: Record<string, number> } {
  const t = x.timings ?? { blocked: -1, connect: -1, ssl: -1, send: 0, wait: x.ms, receive: 0 };
  const round = (n: number): number => (n < 0 ? -1 : Math.round(n * 1000) / 1000);
  const phases = { blocked: round(t.blocked), dns: -1, connect: round(t.connect), ssl: round(t.ssl), send: round(t.send), wait: round(t.wait), receive: round(t.receive) };
  const total = [phases.blocked, phases.connect, phases.send, phases.wait, phases.receive].filter((n) => n >= 0).reduce((a, b) => a + b, 0);
  return { total: Math.round(total * 1000) / 1000, phases };
}

export class HarWriter {
  private readonly fd: number;
  private first = true;
  private readonly pending: Pending[] = [];
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  /** Opens (creates or truncates) the file at once, so a bad path is found before the run. */
  constructor(
    file: string,
    private readonly redactor: Redactor,
    creator: { name: string; version: string },
  ) {
    this.fd = openSync(file, 'w');
    writeSync(this.fd, `{"log":{"version":"1.2","creator":${JSON.stringify(creator)},"pages":[],"entries":[\n`);
    this.timer = setInterval(() => this.flush(false), HOLD_MS);
    this.timer.unref();
  }

  private text(s: string): { text: string; cut: boolean } {
    // Redacted before it is cut (see Redactor.applyCut); only the part that can be kept is read.
    const head = s.length > 2 * BODY_CAP ? s.slice(0, 2 * BODY_CAP) : s;
    const c = this.redactor.applyCut(blankSecrets(head), BODY_CAP);
    return { text: c.text, cut: c.cut || head.length < s.length };
  }

  /**
   * Records one exchange (a rate-limited try is one too, and so is a poke the
   * target sent to the mock gateway); `res` is undefined when no answer came.
   */
  record(x: TraceEntry): void {
    if (this.closed) return;
    this.pending.push({ at: performance.now(), entry: () => this.entry(x) });
  }

  private entry(x: TraceEntry): unknown {
    const { req, res } = x;
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
    const url = this.redactor.apply(req.url);
    let query: Array<{ name: string; value: string }> = [];
    try {
      query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
    } catch {
      query = [];
    }
    const reqBody = body === undefined ? undefined : this.text(body);
    const resBody = res ? this.text(res.text) : undefined;
    const headers = (h: Record<string, string>): Array<{ name: string; value: string }> =>
      Object.entries(h).map(([name, value]) => ({ name, value: name.toLowerCase() === 'authorization' ? value.replace(/^(Bearer\s+)(.*)$/i, (_m, p: string, t: string) => p + (this.redactor.placeholderFor(t) ?? this.redactor.apply(t))) : this.redactor.apply(value) }));
    const timings = harTimings(x);
    return {
      startedDateTime: x.started.toISOString(),
      time: timings.total,
      _case: x.case,
      _step: x.step,
      ...(x.from ? { _from: 'target', _service: x.from, comment: `a request the target sent to the run's mock ${x.from}, and its answer` } : {}),
      request: {
        method: req.method,
        url,
        httpVersion: 'HTTP/1.1',
        cookies: [],
        headers: headers(req.headers),
        queryString: query,
        headersSize: -1,
        bodySize: body === undefined ? 0 : Buffer.byteLength(body),
        ...(reqBody ? { postData: { mimeType: req.headers['content-type'] ?? 'application/octet-stream', text: reqBody.text } } : {}),
        ...(reqBody?.cut ? { comment: 'body cut at 64 KiB' } : {}),
      },
      response: res
        ? {
            status: res.status,
            statusText: '',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: headers(res.headers),
            content: { size: Buffer.byteLength(res.text), mimeType: res.headers['content-type'] ?? 'x-unknown', text: resBody?.text ?? '' },
            redirectURL: this.redactor.apply(res.headers['location'] ?? ''),
            headersSize: -1,
            bodySize: -1,
            ...(res.truncated || resBody?.cut ? { comment: res.truncated ? 'body cut at the response size cap' : 'body cut at 64 KiB' } : {}),
          }
        : { status: 0, statusText: '', httpVersion: 'HTTP/1.1', cookies: [], headers: [], content: { size: 0, mimeType: 'x-unknown' }, redirectURL: '', headersSize: -1, bodySize: -1, comment: this.redactor.apply(x.error ?? 'no answer') },
      cache: {},
      timings: timings.phases,
    };
  }

  private flush(all: boolean): void {
    const now = performance.now();
    while (this.pending.length && (all || now - (this.pending[0] as Pending).at >= HOLD_MS)) {
      const p = this.pending.shift() as Pending;
      // DEL, C1 controls and the Unicode line separators written as \u escapes, as in the JSON report: a `cat` of the file shows no control from the target.
      writeSync(this.fd, (this.first ? '' : ',\n') + JSON.stringify(p.entry()).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
      this.first = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush(true);
    writeSync(this.fd, '\n]}}\n');
    closeSync(this.fd);
  }
}
