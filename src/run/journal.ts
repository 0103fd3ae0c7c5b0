/**
 * Every exchange of a case, in the order it happened: the requests its steps
 * sent to the target and the requests the target sent to the run's services
 * (pokes to the mock gateway) with their answers. A case that does not pass
 * keeps them in its result, so that a failure can be read from the first
 * step to the one that failed; the run's trace tags every exchange with the
 * case and step it belongs to.
 *
 * HTTP exchanges belong to the case in whose asynchronous context they were
 * sent. Requests to services come from outside any case: they belong to the
 * case whose generated values ($unique, which carries the run id and the
 * case's sequence number) they name.
 */
import type { HttpRequest, HttpResponse, Timings } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import type { ReceivedExchange } from '../service.js';
import { curlFor, RESULT_BODY_CAP, shownHeaders } from './exchange.js';
import type { CaseExchange } from './types.js';

/** Where an exchange belongs: a case and its step, or the run's own setup (preflight, users). */
export interface ExchangeTag {
  case: string | null;
  /** 1-based step; "baseline" before the first step, "cleanup" after the last, "(setup)" outside any case. */
  step: number | string;
}

export const SETUP_TAG: ExchangeTag = { case: null, step: '(setup)' };

interface Entry {
  step: number | 'baseline' | 'cleanup';
  title?: string;
  direction: CaseExchange['direction'];
  service?: string;
  at: number;
  req: HttpRequest;
  res?: HttpResponse;
  ms: number;
  error?: string;
  timings?: Timings;
}

/** The most entries a case keeps while it runs (a target rate-limiting every try could make many): the newest stay. */
const MAX_KEPT = 200;
/** The most a result keeps: entries, bytes of each body, and bytes of bodies in all. */
export const MAX_SHOWN = 60;
const BODY_CAP = 8 * 1024;
const TOTAL_CAP = 128 * 1024;
/** What a running case holds of each body: enough to redact and cut later, never the megabytes a target may send. */
const KEEP = RESULT_BODY_CAP + 8 * 1024;

/** At most KEEP characters of a text, as a string of its own (a slice would keep the whole text alive). */
function kept(text: string): string {
  return text.length > KEEP ? Buffer.from(text.slice(0, KEEP), 'utf8').toString('utf8') : text;
}

function keptRequest(req: HttpRequest): HttpRequest {
  if (req.body === undefined || req.body.length <= KEEP) return req;
  return { ...req, body: typeof req.body === 'string' ? kept(req.body) : req.body.slice(0, KEEP) };
}

/** The value of {$unique: NAME} in one case's run: unique to the run (runId) and to the case's run (seq). */
export function uniqueValue(name: string, runId: string, seq: number): string {
  return `${name}-${runId}-${seq}`;
}

/** The case run (its seq) whose generated values a received exchange names, if any. */
export function ownerOf(x: ReceivedExchange, runId: string): number | undefined {
  const exact = new RegExp(`-${runId}-(\\d+)$`);
  for (const k of x.keys) {
    const m = exact.exec(k);
    if (m) return Number(m[1]);
  }
  // A body that names no device (the draft's pokes): the first generated value it holds.
  const m = new RegExp(`-${runId}-(\\d+)(?!\\d)`).exec(typeof x.req.body === 'string' ? x.req.body : '');
  return m ? Number(m[1]) : undefined;
}

/** One case's run: what it is doing now, and what it has exchanged. */
export class CaseScope {
  step: Entry['step'] = 'baseline';
  private title: string | undefined;
  private readonly entries: Entry[] = [];
  private dropped = 0;

  constructor(
    readonly caseId: string,
    readonly started: number,
  ) {}

  /** The case starts its step `n`. */
  enter(n: number, title: string): void {
    this.step = n;
    this.title = title;
  }

  get tag(): ExchangeTag {
    return { case: this.caseId, step: this.step };
  }

  private titled(): { title?: string } {
    return typeof this.step === 'number' && this.title !== undefined ? { title: this.title } : {};
  }

  private add(e: Entry): void {
    this.entries.push(e);
    if (this.entries.length > MAX_KEPT) {
      this.entries.shift();
      this.dropped++;
    }
  }

  sent(req: HttpRequest, res: HttpResponse | undefined, at: number, ms: number, error?: string, timings?: Timings): void {
    this.add({ step: this.step, ...this.titled(), direction: 'to-target', at, req: keptRequest(req), ms, ...(res ? { res: { ...res, text: kept(res.text) } } : {}), ...(error !== undefined ? { error } : {}), ...(timings ? { timings } : {}) });
  }

  received(service: string, x: ReceivedExchange): void {
    this.add({ step: this.step, ...this.titled(), direction: 'from-target', service, at: x.at, req: keptRequest(x.req), res: { ...x.res, text: kept(x.res.text) }, ms: x.res.durationMs });
  }

  /**
   * The exchanges of the steps up to the last failing one (baselines first),
   * in the order they began, redacted and bounded: the newest MAX_SHOWN; the
   * bodies of the failing steps' exchanges cut at 64 KiB each, as a failure
   * keeps them, the others at 8 KiB each and 128 KiB in all.
   */
  record(failing: ReadonlySet<number>, redactor: Redactor): { exchanges: CaseExchange[]; omitted: number } {
    const lastStep = Math.max(0, ...failing);
    const upTo = this.entries.filter((e) => e.step !== 'cleanup' && (e.step === 'baseline' || e.step <= lastStep)).sort((a, b) => a.at - b.at);
    const shown = upTo.slice(-MAX_SHOWN);
    let budget = TOTAL_CAP;
    const exchanges = shown.map((e): CaseExchange => {
      const full = typeof e.step === 'number' && failing.has(e.step);
      const cut = (text: string): { text: string; cut?: true } => {
        const c = redactor.applyCut(text, full ? RESULT_BODY_CAP : Math.max(0, Math.min(BODY_CAP, budget)));
        if (!full) budget -= Buffer.byteLength(c.text);
        return c.cut ? { text: c.text, cut: true } : { text: c.text };
      };
      const body = e.req.body === undefined ? undefined : cut(typeof e.req.body === 'string' ? e.req.body : Buffer.from(e.req.body).toString('utf8'));
      const resBody = e.res ? cut(e.res.text) : undefined;
      const headers = (h: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, redactor.applyCut(v, 1024).text]));
      return {
        step: e.step === 'baseline' ? 0 : (e.step as number),
        ...(e.title !== undefined ? { stepTitle: e.title } : {}),
        direction: e.direction,
        ...(e.service ? { service: e.service } : {}),
        atMs: Math.round((e.at - this.started) * 10) / 10,
        request: { method: e.req.method, url: redactor.apply(e.req.url), headers: e.direction === 'to-target' ? shownHeaders(e.req.headers, redactor) : headers(e.req.headers), ...(body ? { body: body.text } : {}), ...(body?.cut ? { bodyCut: true } : {}) },
        ...(e.res && resBody ? { response: { status: e.res.status, headers: headers(e.res.headers), body: resBody.text, truncated: e.res.truncated, ...(resBody.cut ? { bodyCut: true } : {}) } } : {}),
        ...(e.error !== undefined ? { error: redactor.apply(e.error) } : {}),
        durationMs: Math.round(e.ms * 10) / 10,
        ...(e.timings ?? e.res?.timings ? { timings: (e.timings ?? e.res?.timings) as Timings } : {}),
        ...(e.direction === 'to-target' ? { curl: curlFor(e.req, redactor) } : {}),
      };
    });
    return { exchanges, omitted: upTo.length - shown.length + this.dropped };
  }
}

