// The propagation lag of an endpoint change (EndpointSlice → every node's kube-proxy), shared by both data
// paths: a change takes effect `lagMs` after it is published, and a closed data path applies nothing more.

import type { Endpoint } from './node/proxy-core.js';

export class PropagationLag {
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly lagMs: number,
    private readonly apply: (endpoints: Endpoint[]) => void,
  ) {}

  /** Apply a copy of `endpoints` after the lag (now when it is 0); resolves once applied. */
  publish(endpoints: Endpoint[]): Promise<void> {
    const snapshot = endpoints.map((endpoint) => ({ ...endpoint }));
    if (this.lagMs <= 0) {
      this.apply(snapshot);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.apply(snapshot);
        resolve();
      }, this.lagMs);
      this.#timers.add(timer);
    });
  }

  /** Drop the changes still on their way. */
  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
