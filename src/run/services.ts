/**
 * Services a run hosts for its steps (the mock push gateway, …). A case
 * names the services it needs; the run starts each one before the first case
 * that needs it, and a case whose service the run cannot offer is skipped
 * with the service's reason. The core knows services only by name.
 */
import type { Service, ServiceContext, ServiceSpec } from '../service.js';
import { ConformanceError } from '../errors.js';

export type { Service, ServiceSpec };

export class Services {
  private readonly started = new Map<string, Service>();
  private readonly starting = new Map<string, Promise<Service>>();
  /** By service, the values of it the target took (a step carrying them was answered 2xx). */
  private readonly taken = new Map<string, Set<unknown>>();
  constructor(
    private readonly specs: ReadonlyMap<string, ServiceSpec> = new Map(),
    private readonly context?: ServiceContext,
  ) {}

  /** Why a service cannot be used, or undefined when it can. */
  unavailable(name: string): string | undefined {
    const spec = this.specs.get(name);
    if (!spec) return `this run offers no ${name} service`;
    return spec.unavailable;
  }

  /** Whether the user turned the service off on purpose. */
  declined(name: string): boolean {
    return this.specs.get(name)?.declined === true;
  }

  /** Starts a service (once, however many ask at the same time). */
  async start(name: string): Promise<Service> {
    const running = this.started.get(name);
    if (running) return running;
    let p = this.starting.get(name);
    if (!p) {
      const spec = this.specs.get(name);
      if (!spec || spec.unavailable) throw new Error(`service ${name} is not available`);
      p = spec.start(this.context).then(
        (s) => {
          this.started.set(name, s);
          return s;
        },
        (err: unknown) => {
          // The run's own setting (a listen address taken or not on this machine), not the target: said in one line.
          throw new ConformanceError('ERR_SERVICE', `the run's ${name} could not start: ${err instanceof Error ? err.message : 'unknown error'}`);
        },
      );
      this.starting.set(name, p);
    }
    return p;
  }

  /** Notes that the target answered 2xx to a step that carried these values of the service. */
  accept(name: string, values: readonly unknown[]): void {
    let taken = this.taken.get(name);
    if (!taken) this.taken.set(name, (taken = new Set()));
    for (const v of values) taken.add(v);
  }

  /** Whether the target took every one of these values of the service in an earlier step of the run. */
  wasAccepted(name: string, values: readonly unknown[]): boolean {
    const taken = this.taken.get(name);
    return taken !== undefined && values.every((v) => taken.has(v));
  }

  /** Asks a started service to offer itself another way (see Service.alternative); what changed, or undefined. */
  async alternative(name: string): Promise<string | undefined> {
    return (await this.started.get(name)?.alternative?.()) ?? undefined;
  }

  /** A started service, for steps; undefined before it is started. */
  get<T extends Service>(name: string): T | undefined {
    return this.started.get(name) as T | undefined;
  }

  value(name: string, key: string): unknown {
    return this.started.get(name)?.value?.(key);
  }

  async close(): Promise<void> {
    await Promise.all([...this.starting.values()].map(async (s) => (await s.catch(() => undefined))?.close()));
    this.started.clear();
    this.starting.clear();
  }
}
