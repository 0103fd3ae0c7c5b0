import type { StepKind, StepRun } from '../../../run/kinds.js';
import { gatewayOf, checkValues, NO_GATEWAY } from './notification-common.js';
import { asKey } from '../../../cases/values.js';

interface Spec {
  pushkey: unknown;
  /** Answer {"rejected": [pushkey]} to every poke about an event for it (badge updates are answered as usual). */
  reject?: boolean;
  /** Answer pokes about an event with this status (a 5xx) `times` times. */
  status?: number;
  times?: number;
}

/**
 * `gateway_answer`: tells the mock gateway how to answer the pokes for a
 * pushkey from now on: reject it, or fail with a status a number of times.
 * It sets the scene and observes nothing (`setup: {status: 200}`).
 */
export const gatewayAnswerKind: StepKind = {
  name: 'gateway_answer',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['pushkey'],
    properties: { pushkey: {}, reject: { type: 'boolean' }, status: { type: 'integer', minimum: 400, maximum: 599 }, times: { type: 'integer', minimum: 1, maximum: 100 } },
  },
  check: checkValues,
  async run(spec, ctx): Promise<StepRun> {
    const s = spec as Spec;
    const gateway = gatewayOf(ctx);
    if (!gateway) return NO_GATEWAY;
    gateway.answer(asKey(ctx.resolve(s.pushkey), 'the pushkey'), { ...(s.reject ? { reject: true } : {}), ...(s.status !== undefined ? { status: s.status, times: s.times ?? 1 } : {}) });
    return { requests: 0, waitedMs: 0, observed: { status: 200, json: {}, isJson: true } };
  },
};
