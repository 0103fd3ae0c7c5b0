import type { StepKind, StepRun } from '../../../run/kinds.js';
import { gatewayOf, NO_GATEWAY, pause } from './notification-common.js';

/**
 * `wait: {quiet_period: true}`: gives the target time to act on what came
 * before (a rejection the gateway answered, say) before the next step: the
 * run's quiet period for push delivery, derived from the latency measured so
 * far (or --quiet-period), never a fixed time. It sends nothing and observes
 * nothing (`setup: {status: 200}`); an interrupted run ends it at once. The
 * period it used is in the case's result.
 */
export const waitKind: StepKind = {
  name: 'wait',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['quiet_period'],
    properties: { quiet_period: { const: true, description: "Wait the run's quiet period for push delivery (it needs the gateway)." } },
  },
  waits: true,
  waitWeight: () => 1000,
  async run(_spec, ctx): Promise<StepRun> {
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    const period = { ...gateway.timing.quietPeriod(), kind: 'wait' };
    const done = ctx.waiting(`${period.ms} ms for the target to act`, period.ms);
    try {
      await pause(period.ms, ctx.signal);
    } finally {
      done();
    }
    return { requests: 0, waitedMs: 0, periods: [period], observed: { status: 200, json: {}, isJson: true } };
  },
};
