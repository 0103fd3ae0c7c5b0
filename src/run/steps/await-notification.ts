import type { StepKind, StepRun } from '../kinds.js';
import type { Poke } from '../../gateway/gateway.js';
import { filterSchema, gatewayOf, matcher, type PokeFilter, checkValues, NO_GATEWAY } from './notification-common.js';
import { missingText } from './poke-text.js';

interface Spec extends PokeFilter {
  timeout_ms?: number;
  /**
   * Wait for this many matching pokes, each arriving at least MIN_GAP_MS after
   * the previous one was answered (a retry is a second one, and a copy sent at
   * the same time as the first is not); the last is observed.
   */
  count?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/**
 * How long after an answer the next poke must come to count as another one:
 * a retry waits for the answer to travel back and for its back-off, and two
 * copies sent at once arrive within a few milliseconds of each other.
 */
const MIN_GAP_MS = 50;

/**
 * `await_notification`: waits, within a timeout, for the mock gateway to be
 * poked for a pushkey (about a given event, if named). The body of the poke
 * is what expectations read (`schema: push-notification`, `body_includes`,
 * …). A poke that never arrives fails every expectation of the step.
 */
export const awaitNotificationKind: StepKind = {
  name: 'await_notification',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['pushkey'],
    properties: { ...filterSchema, timeout_ms: { type: 'integer', minimum: 100, maximum: 120_000 }, count: { type: 'integer', minimum: 1, maximum: 10 } },
  },
  check: checkValues,
  async run(spec, ctx): Promise<StepRun> {
    const s = spec as Spec;
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    const m = matcher(ctx, s);
    const timeout = s.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    const want = s.count ?? 1;
    const started = performance.now();
    let seen = 0;
    let last: Poke | undefined;
    const counted: Poke[] = [];
    while (seen < want) {
      const left = timeout - (performance.now() - started);
      const next = left > 0 ? await gateway.waitFor(m.pushkey, (p) => m.match(p) && (last === undefined || p.at >= last.answeredAt + MIN_GAP_MS), left) : undefined;
      if (!next) break;
      last = next;
      counted.push(next);
      seen++;
    }
    const what = `${want > 1 ? `${want} pokes` : 'a poke'} for pushkey ${m.pushkey}${m.event ? ` about event ${m.event}` : ''}`;
    if (seen < want || !last) {
      return { requests: 0, waitedMs: 0, unobserved: missingText({ what, timeoutMs: timeout, counted, forPushkey: gateway.pokesFor(m.pushkey), caseStarted: ctx.caseStarted ?? started }) };
    }
    const poke = last;
    return {
      requests: 0,
      waitedMs: 0,
      observed: { json: poke.body, isJson: poke.body !== undefined },
      exchange: () => ({ request: { method: 'POST', url: gateway.url, headers: {}, body: ctx.redactor.apply(poke.text) }, response: { status: poke.answered, headers: {}, body: '', truncated: false }, durationMs: 0, curl: `# the target's poke to the mock gateway (${what}), ${Math.round(poke.at - started)} ms after the step began` }),
    };
  },
};
