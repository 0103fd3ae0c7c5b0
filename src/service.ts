/**
 * What a service of a run is (the mock push gateway, …), apart from the
 * run that hosts it: the areas that offer services and the core that starts
 * them both depend on this, and on nothing of each other.
 */
export interface Service {
  /** A value cases read with {$service: NAME.KEY} (gateway.url, …). */
  value?(key: string): unknown;
  close(): Promise<void>;
}

export interface ServiceSpec {
  start(): Promise<Service>;
  /** Why the run cannot offer the service (the target is on another machine, --no-delivery, …). */
  unavailable?: string;
  /** The user turned the service off (--no-delivery): its cases are left out by choice, not for want of a judgement. */
  declined?: boolean;
}

