/**
 * What a service of a run is (the mock push gateway, …), apart from the
 * run that hosts it: the areas that offer services and the core that starts
 * them both depend on this, and on nothing of each other.
 */
import type { HttpRequest, HttpResponse } from './http/client.js';

/** A request the target sent to a service of the run (a poke to the mock gateway), and the service's answer. */
export interface ReceivedExchange {
  req: HttpRequest;
  res: HttpResponse;
  started: Date;
  /** performance.now() when the request began to arrive. */
  at: number;
  /** Values in it that tell whose it is (the pushkeys a poke is for). */
  keys: string[];
}

export interface Service {
  /** A value cases read with {$service: NAME.KEY} (gateway.url, …). */
  value?(key: string): unknown;
  /**
   * The target refused a request carrying one of the service's values (the
   * gateway's http:// URL): offer the service another way from now on (over
   * HTTPS). Says what changed, or undefined when there is no other way.
   */
  alternative?(): Promise<string | undefined>;
  /** Calls `listener` with every request the service answers; returns the call that stops it. */
  observe?(listener: (x: ReceivedExchange) => void): () => void;
  close(): Promise<void>;
}

/** What a run tells a service it starts. */
export interface ServiceContext {
  /** The run's id: every unique value of the run ($unique) holds it. */
  runId: string;
}

export interface ServiceSpec {
  start(context?: ServiceContext): Promise<Service>;
  /** Why the run cannot offer the service (the target is on another machine, --no-delivery, …). */
  unavailable?: string;
  /** The user turned the service off (--no-delivery): its cases are left out by choice, not for want of a judgement. */
  declined?: boolean;
}

