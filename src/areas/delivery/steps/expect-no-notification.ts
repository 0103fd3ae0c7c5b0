import type { StepKind, StepRun } from '../../../run/kinds.js';
import { eventOf, filterSchema, gatewayOf, matcher, pause, type PokeFilter, checkValues, NO_GATEWAY } from './notification-common.js';

interface Spec extends PokeFilter {
  /** Count the pokes kept from before the step too (pushkeys are the case's own, so all are the case's). */
  include_earlier?: boolean;
}

/** The longest a quiet period waits, past its end, for pokes that had begun to arrive. */
const SETTLE_MS = 1000;

/**
 * `expect_no_notification`: watches the mock gateway for the run's quiet
 * period (derived from the delivery latency measured so far, or
 * --quiet-period; see gateway/timing.ts), then lets pokes already arriving
 * finish. It belongs after a witness: a step that waited for a later poke for
 * the same user. What it observes is `{pokes: [...]}`, the bodies of the pokes
 * about an event (of the event named, if any) that arrived for the pushkey;
 * an expectation `list: {at: /pokes, exactly: []}` says none may. The period
 * it used is in the case's result.
 */
export const expectNoNotificationKind: StepKind = {
  name: 'expect_no_notification',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['pushkey'],
    properties: { ...filterSchema, include_earlier: { type: 'boolean' } },
  },
  check: checkValues,
  waits: true,
  waitWeight: () => 1000,
  async run(spec, ctx): Promise<StepRun> {
    const s = spec as Spec;
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    const m = matcher(ctx, s);
    const period = gateway.timing.quietPeriod();
    // Pokes from the moment the step begins: earlier ones were about earlier steps.
    const since = performance.now();
    const done = ctx.waiting(`${period.ms} ms with no poke for pushkey ${m.pushkey}`, period.ms);
    try {
      await pause(period.ms, ctx.signal);
      await gateway.settled(Math.min(period.ms, SETTLE_MS));
    } finally {
      done();
    }
    const pokes = gateway.pokesFor(m.pushkey).filter((p) => (s.include_earlier || p.at >= since) && m.match(p));
    const said = `${pokes.length} poke(s) for pushkey ${m.pushkey} arrived ${s.include_earlier ? 'before the step or ' : ''}in the ${period.ms} ms quiet period after the witness (${period.basis})`;
    return {
      requests: 0,
      waitedMs: 0,
      periods: [period],
      observed: { json: { pokes: pokes.map((p) => p.body), events: pokes.map(eventOf), quietPeriodMs: period.ms }, isJson: true },
      exchange: () => ({ request: { method: 'POST', url: gateway.url, headers: {}, ...(pokes[0] ? { body: ctx.redactor.apply(pokes[0].text) } : {}) }, durationMs: period.ms, curl: `# ${said}${pokes.length ? '; the first is shown' : ''}` }),
    };
  },
};
