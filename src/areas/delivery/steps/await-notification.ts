import type { StepKind, StepRun } from '../../../run/kinds.js';
import { MAX_JSON_DEPTH } from '../../../json.js';
import { RESULT_BODY_CAP } from '../../../run/exchange.js';
import type { Poke } from '../gateway/gateway.js';
import { DEFAULT_RETRY_WINDOW_MS } from '../gateway/timing.js';
import { filterSchema, gatewayOf, matcher, noteLatency, type PokeFilter, checkValues, NO_GATEWAY } from './notification-common.js';
import { missingText } from './poke-text.js';

interface Spec extends PokeFilter {
  timeout_ms?: number;
  /** Wait as long as the run's retry window (65 s, or --retry-window) instead of the timeout. */
  retry_window?: boolean;
  /**
   * Wait for this many matching pokes, each sent after the previous one was
   * answered (a retry is a second one; a copy sent at the same time as the
   * first is not, however late it arrives); the last is observed.
   */
  count?: number;
}

/** The skip code of a retry not seen within a window the user shortened. */
export const RETRY_WINDOW_SKIP = 'retry-window';

/**
 * `await_notification`: waits, within a timeout, for the mock gateway to be
 * poked for a pushkey (about a given event, if named). The body of the poke
 * is what expectations read (`schema: push-notification`, `body_includes`,
 * …). A poke that never arrives fails every expectation of the step, except
 * within a retry window the user shortened (`--retry-window`): nothing
 * arriving there only shows that the server did not retry that soon, so the
 * case is not judged (skipped, code `retry-window`).
 */
export const awaitNotificationKind: StepKind = {
  name: 'await_notification',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['pushkey'],
    properties: {
      ...filterSchema,
      timeout_ms: { type: 'integer', minimum: 100, maximum: 120_000 },
      retry_window: { type: 'boolean', description: "Wait as long as the run's retry window (65 s by default, --retry-window) instead of the timeout." },
      count: { type: 'integer', minimum: 1, maximum: 10 },
    },
    not: { required: ['timeout_ms', 'retry_window'] },
  },
  check: checkValues,
  waits: true,
  waitWeight: (spec) => ((spec as Spec).retry_window ? 65_000 : 100),
  async run(spec, ctx): Promise<StepRun> {
    const s = spec as Spec;
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    const m = matcher(ctx, s);
    const window = s.retry_window ? gateway.timing.retryWindow() : undefined;
    const timeout = window ? window.ms : gateway.timing.awaitMs(s.timeout_ms);
    const want = s.count ?? 1;
    const started = performance.now();
    const what = `${want > 1 ? `${want} pokes` : 'a poke'} for pushkey ${m.pushkey}${m.event ? ` about event ${m.event}` : ''}`;
    const done = ctx.waiting(window ? `the poke to be sent again (${window.basis}; --retry-window shortens it)` : what, timeout);
    let seen = 0;
    let last: Poke | undefined;
    const counted: Poke[] = [];
    // A target that cannot finish a TLS handshake with the gateway (it does not trust the run's certificate) can send nothing:
    // once one fails, a poke that has not come within a quiet period will not come, and the case cannot be judged.
    let untrusted: string | undefined;
    const stopWatching = gateway.onHandshakeFailure((reason) => (untrusted ??= reason));
    try {
      while (seen < want) {
        const left = timeout - (performance.now() - started);
        const failed = gateway.handshakeFailureSince(ctx.caseStarted ?? started);
        if (seen === 0 && failed !== undefined) untrusted ??= failed;
        // A poke for the pushkey nested deeper than any check reads cannot be told about which event it is: it ends the wait, without a verdict.
        const next = left > 0 ? await gateway.waitFor(m.pushkey, (p) => (m.match(p) || (p.body === undefined && p.tooDeep)) && (last === undefined || p.sentAt >= last.answeredAt), untrusted !== undefined && seen === 0 ? Math.min(left, gateway.timing.quietPeriod().ms) : left, 0, () => seen === 0 && untrusted !== undefined) : undefined;
        if (!next) break;
        if (next.body === undefined && next.tooDeep) {
          const poke = next;
          return { requests: 0, waitedMs: 0, problem: { code: 'ERR_JSON_TOO_DEEP', message: `a poke for pushkey ${m.pushkey} came whose JSON nests deeper than ${MAX_JSON_DEPTH} levels: no check reads it, so the case has no verdict`, exchange: { request: { method: 'POST', url: gateway.url, headers: {}, body: ctx.redactor.applyCut(poke.text, RESULT_BODY_CAP).text, bodyCut: poke.text.length > RESULT_BODY_CAP }, durationMs: 0, curl: "# the target's poke to the mock gateway" } } };
        }
        // The first poke's latency is the target's delivery time; a retry's is its back-off.
        if (seen === 0) noteLatency(gateway, ctx, next);
        last = next;
        counted.push(next);
        seen++;
      }
    } finally {
      stopWatching();
      done();
    }
    const periods = window ? [{ kind: window.kind, ms: window.ms, basis: window.basis }] : [];
    if (seen === 0 && untrusted !== undefined) {
      return { requests: 0, waitedMs: 0, periods, skipCode: 'gateway-tls', skip: `not judged: no poke came, and ${untrusted} with the mock gateway: the target does not trust the run's certificate (give one it trusts with --gateway-cert and --gateway-key, or let its test setup accept any push gateway's certificate; see the README)` };
    }
    if (seen < want || !last) {
      const message = `${missingText({ what, timeoutMs: timeout, counted, forPushkey: gateway.pokesFor(m.pushkey), caseStarted: ctx.caseStarted ?? started })}${strayNote(gateway.strayCount, gateway.strays)}`;
      // The user chose the shorter window: like --no-delivery, a skip that never counts against the run.
      if (window?.shortened) return { requests: 0, waitedMs: 0, periods, skipCode: RETRY_WINDOW_SKIP, skipCause: 'target', skip: `not judged: ${message}, in a window shortened with --retry-window (the default ${DEFAULT_RETRY_WINDOW_MS / 1000} s window judges a server that never retries)` };
      return { requests: 0, waitedMs: 0, periods, unobserved: message };
    }
    const poke = last;
    return {
      requests: 0,
      waitedMs: 0,
      periods,
      observed: { json: poke.body, isJson: poke.body !== undefined },
      exchange: () => ({ request: { method: 'POST', url: gateway.url, headers: {}, body: ctx.redactor.apply(poke.text) }, response: { status: poke.answered, headers: {}, body: '', truncated: false }, durationMs: 0, curl: `# the target's poke to the mock gateway (${what}), ${Math.round(poke.at - started)} ms after the step began` }),
    };
  },
};

/** A hint at pokes that named no pushkey of the run: a server poking the wrong pushkey shows there. */
function strayNote(count: number, strays: ReadonlyArray<{ pushkeys: string[] }>): string {
  if (count === 0) return '';
  const named = strays.flatMap((s) => s.pushkeys);
  const last = named[named.length - 1];
  return `; ${count} poke(s) named no pushkey of this run${last !== undefined ? ` (the last named pushkey "${last}")` : ''}`;
}
