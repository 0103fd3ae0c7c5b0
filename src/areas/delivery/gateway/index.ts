/**
 * The push-delivery area's entry for the composition root: the `gateway`
 * service a run offers to cases that `need: [gateway]`, or the reason it
 * cannot (the target is on another machine and was given no address to
 * reach the gateway at, or delivery was turned off).
 */
import type { ServiceSpec } from '../../../service.js';
import { MockGateway, type GatewayOptions } from './gateway.js';

export { MockGateway, NOTIFY_PATH, Poke, type GatewayOptions, type PokeSummary } from './gateway.js';
export { DeliveryTiming, type Period, type TimingOptions } from './timing.js';

export interface DeliveryOptions extends GatewayOptions {
  /** --no-delivery: skip the delivery cases on purpose. */
  off?: boolean;
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|\[?::1\]?|localhost)$/i;

export function gatewayService(target: string, options: DeliveryOptions = {}): ServiceSpec {
  let host = '';
  try {
    host = new URL(target).hostname;
  } catch {
    host = '';
  }
  const unavailable = options.off
    ? 'push delivery is turned off (--no-delivery)'
    : !LOOPBACK.test(host) && options.url === undefined
      ? `the target is not on this machine, so it cannot reach the mock push gateway on loopback: give the address it can reach with --gateway-url URL (and --gateway-listen HOST:PORT to listen there)`
      : undefined;
  return { start: (context) => MockGateway.start({ ...options, ...(context ? { runId: context.runId } : {}) }), ...(unavailable ? { unavailable } : {}), ...(options.off ? { declined: true } : {}) };
}
