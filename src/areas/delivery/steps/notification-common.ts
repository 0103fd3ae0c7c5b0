import { isBadgeBody, type MockGateway, type Poke } from '../gateway/gateway.js';
import { asKey, checkOperators, references, type ValueProblem } from '../../../cases/values.js';
import type { References, StepContext, StepRun } from '../../../run/kinds.js';

/** What the delivery steps say about the pushkey and event they look for. */
export interface PokeFilter {
  pushkey: unknown;
  /** The poke about this event; absent: any poke about an event. */
  event_id?: unknown;
  /**
   * With event_id: a poke about an event that names no event id counts too,
   * so that a rule about the event id can judge it (a poke about another,
   * named event still does not).
   */
  or_unnamed?: boolean;
}

export const filterSchema = {
  pushkey: { description: 'The pushkey whose pokes count (a value or generator).' },
  event_id: { description: 'Only the poke about this event (a value or generator, e.g. {$var: event}).' },
  or_unnamed: { type: 'boolean', description: 'With event_id: a poke about an event that carries no event_id counts too, so that the rule about event ids can judge it.' },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The event a poke is about; undefined for a poke that carries counts alone (a badge update). */
export function eventOf(p: Poke): string | undefined {
  const n = isObject(p.body) ? p.body['notification'] : undefined;
  const id = isObject(n) ? n['event_id'] : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** A badge update (counts alone), never taken for a poke about an event: see isBadgeBody. */
export const isBadge = (p: Poke): boolean => isBadgeBody(p.body);

export function matcher(ctx: StepContext, f: PokeFilter): { pushkey: string; event?: string; match: (p: Poke) => boolean } {
  const pushkey = asKey(ctx.resolve(f.pushkey), 'the pushkey awaited');
  const event = f.event_id === undefined ? undefined : asKey(ctx.resolve(f.event_id), 'the event id awaited');
  return { pushkey, ...(event === undefined ? {} : { event }), match: (p) => !isBadge(p) && (event === undefined || eventOf(p) === event || (f.or_unnamed === true && eventOf(p) === undefined)) };
}

export function gatewayOf(ctx: StepContext): MockGateway | undefined {
  return ctx.services.get<MockGateway>('gateway');
}

/** The static check every delivery step does: its values are generators or literals (no matchers). */
export function checkValues(spec: unknown, path: Array<string | number>, out: ValueProblem[], refs: References): void {
  checkOperators(spec, path, false, out);
  references(spec, refs);
}

/** Notes how long a poke took from the answer to the request that caused it, for the run's quiet periods. */
export function noteLatency(gateway: MockGateway, ctx: StepContext, poke: Poke): void {
  if (ctx.previousAnswerAt !== undefined) gateway.timing.noteLatency(poke.at - ctx.previousAnswerAt);
}

/** Waits `ms`, or less when the run is interrupted. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What a delivery step answers when the run has no mock gateway (a case that needs it is skipped before). */
export const NO_GATEWAY: StepRun = { requests: 0, waitedMs: 0, problem: { code: 'ERR_NO_GATEWAY', message: 'the mock push gateway is not running' } };
