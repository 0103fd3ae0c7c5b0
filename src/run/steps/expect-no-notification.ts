import type { StepKind, StepRun } from '../kinds.js';
import { eventOf, filterSchema, gatewayOf, matcher, type PokeFilter, checkValues, NO_GATEWAY } from './notification-common.js';

interface Spec extends PokeFilter {
  quiet_ms?: number;
  /** Count the pokes kept from before the step too (pushkeys are the case's own, so all are the case's). */
  include_earlier?: boolean;
}

const DEFAULT_QUIET_MS = 3_000;

/**
 * `expect_no_notification`: watches the mock gateway for a stated quiet
 * period. What it observes is `{pokes: [...]}`, the bodies of the pokes about
 * an event (of the event named, if any) that arrived for the pushkey in that
 * time; an expectation `list: {at: /pokes, exactly: []}` says none may.
 */
export const expectNoNotificationKind: StepKind = {
  name: 'expect_no_notification',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['pushkey'],
    properties: { ...filterSchema, quiet_ms: { type: 'integer', minimum: 100, maximum: 60_000 }, include_earlier: { type: 'boolean' } },
  },
  check: checkValues,
  async run(spec, ctx): Promise<StepRun> {
    const s = spec as Spec;
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    const m = matcher(ctx, s);
    const quiet = s.quiet_ms ?? DEFAULT_QUIET_MS;
    // Pokes from the moment the step begins: earlier ones were about earlier steps.
    const since = performance.now();
    await new Promise((r) => setTimeout(r, quiet));
    const pokes = gateway.pokesFor(m.pushkey).filter((p) => (s.include_earlier || p.at >= since) && m.match(p));
    return {
      requests: 0,
      waitedMs: 0,
      observed: { json: { pokes: pokes.map((p) => p.body), events: pokes.map(eventOf) }, isJson: true },
      exchange: () => ({ request: { method: 'POST', url: gateway.url, headers: {}, ...(pokes[0] ? { body: ctx.redactor.apply(pokes[0].text) } : {}) }, durationMs: quiet, curl: `# ${pokes.length} poke(s) for pushkey ${m.pushkey} arrived in the ${quiet} ms quiet period${pokes.length ? '; the first is shown' : ''}` }),
    };
  },
};
