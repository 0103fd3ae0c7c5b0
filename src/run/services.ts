/**
 * Services a run hosts for its steps (the mock push gateway, …), started the
 * first time a step asks for one and closed when the run ends. The core knows
 * them only by name.
 */
export interface Service {
  close(): Promise<void>;
}

export class Services {
  private readonly started = new Map<string, Promise<Service>>();
  constructor(private readonly factories: ReadonlyMap<string, () => Promise<Service>> = new Map()) {}

  /** The running service, started on first use; undefined when the run has none of that name. */
  get<T extends Service>(name: string): Promise<T> | undefined {
    let s = this.started.get(name);
    if (!s) {
      const factory = this.factories.get(name);
      if (!factory) return undefined;
      s = factory();
      this.started.set(name, s);
    }
    return s as Promise<T>;
  }

  async close(): Promise<void> {
    await Promise.all([...this.started.values()].map(async (s) => (await s.catch(() => undefined))?.close()));
    this.started.clear();
  }
}
