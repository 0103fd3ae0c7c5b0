import type { StepKind, StepRun } from '../kinds.js';

interface Spec {
  ms: number;
}

/**
 * `wait`: lets the target act on what came before for a stated time (a
 * rejection the gateway answered, say) before the next step. It sends
 * nothing and observes nothing (`setup: {status: 200}`); an interrupted run
 * ends it at once.
 */
export const waitKind: StepKind = {
  name: 'wait',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['ms'],
    properties: { ms: { type: 'integer', minimum: 1, maximum: 10_000, description: 'How long to wait, in milliseconds (at most 10 s).' } },
  },
  async run(spec, ctx): Promise<StepRun> {
    const { ms } = spec as Spec;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        ctx.signal?.removeEventListener('abort', done);
        resolve();
      }
      ctx.signal?.addEventListener('abort', done, { once: true });
    });
    return { requests: 0, waitedMs: 0, observed: { status: 200, json: {}, isJson: true } };
  },
};
